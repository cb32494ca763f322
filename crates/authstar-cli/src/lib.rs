//! The `authstar` command's library: the registry and the demo service.

pub mod demo;
/// The registry, from the `authstar-registry` crate.
pub use authstar_registry as registry;
