{
  "targets": [
    {
      "target_name": "hwl_native_hash",
      "sources": ["src/native-hash.c", "src/ingest-transcode.c", "src/record-link.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-deprecated-declarations"]
    }
  ]
}
