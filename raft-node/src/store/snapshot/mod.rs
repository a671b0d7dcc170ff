//! Snapshots and backups: one streamed, checksummed file format ([`stream`]), written from a
//! RocksDB snapshot of the state machine ([`dump`]) and installed as a new generation
//! switched in atomically ([`install`]). [`files`] keeps the node's current snapshot.

pub mod dump;
pub mod files;
pub mod install;
pub mod stream;

pub use dump::{dump_to_file, Dumped};
pub use files::SnapshotFiles;
pub use install::{install_generation, Installed};
pub use stream::{Record, StreamHeader, StreamReader, StreamWriter, STREAM_VERSION};
