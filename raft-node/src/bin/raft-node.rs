fn main() { let _ = rocksdb::DB::open_default("/tmp/x"); let _ : Option<openraft::Config> = None; }
