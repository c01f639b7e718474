{
  "targets": [
    {
      "target_name": "hwl_native_hash",
      "sources": ["src/native-hash.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-deprecated-declarations"]
    }
  ]
}
