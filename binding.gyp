{
  "targets": [
    {
      "target_name": "blyan_secp256k1",
      "sources": ["native/secp256k1_addon.c"],
      "libraries": ["-lsecp256k1"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
