//! The validated model of a cloud: what the planner and everything after it trust. Built from
//! a raw spec and the catalog by [`compile`], which runs every check and returns all problems
//! at once; a model is only returned when there is no error.

mod ceph;
mod compile;
mod deps;
mod galera;
mod glance;
mod grammar;
mod hci;
mod model;

pub use compile::compile;
pub use hci::{hci_tuning, HciInputs};
pub use model::*;
