{
  "targets": [
    {
      "target_name": "hwl_native_hash",
      "sources": ["src/native-hash.c", "src/ingest-transcode.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-deprecated-declarations"]
    }
  ]
}
