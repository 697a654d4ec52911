{
  "targets": [
    {
      "target_name": "blyan_secp256k1",
      "sources": ["native/secp256k1_addon.c"],
      "libraries": ["-lsecp256k1"],
      "cflags": ["-O2", "-Wall"],
      "ldflags": ["-Wl,-z,now"]
    },
    {
      "target_name": "blyan_process",
      "sources": ["native/process/malloc_addon.c"],
      "cflags": ["-O2", "-Wall"]
    },
    {
      "target_name": "blyan_kernels",
      "sources": [
        "native/kernels/addon.c",
        "native/kernels/pool.c",
        "native/kernels/kern_scalar.c",
        "native/kernels/kern_avx2.c",
        "native/kernels/kern_avx512.c",
        "native/kernels/gemm.c",
        "native/kernels/gemm_avx2.c",
        "native/kernels/gemm_avx512.c",
        "native/kernels/gemm_addon.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-ffp-contract=off", "-fno-math-errno", "-pthread"],
      "cflags!": ["-O2"],
      "ldflags": ["-pthread"],
      "xcode_settings": { "OTHER_CFLAGS": ["-std=gnu11", "-ffp-contract=off"] }
    }
  ]
}
