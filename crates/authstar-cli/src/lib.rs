//! The `authstar` command's library: the registry and the demo service.

pub mod demo;
pub mod registry;
