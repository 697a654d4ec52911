declare module 'secp256k1/bindings.js' {
  import secp from 'secp256k1';
  export default secp;
}
