//! Operating-system package databases, and telling which operating system it is.

mod apk;
mod dpkg;
pub mod os_release;
mod rpm;

pub use apk::Apk;
pub use dpkg::Dpkg;
pub use rpm::Rpm;
