//! The cloud spec as written: one YAML file plus override files, decoded into raw types that
//! keep the location of every value. Nothing here judges whether the cloud makes sense; that
//! is the model's job. Unknown fields and wrong types are reported here, all of them at once.

mod decode;
mod load;
mod raw;

pub use decode::decode_spec;
pub use load::{load, load_str, LoadError, Loaded};
pub use raw::*;
