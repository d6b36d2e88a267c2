//! Language ecosystems: installed packages, lockfiles and what binaries record about how
//! they were built.

mod dotnet;
pub mod golang;
mod java;
mod npm;
mod php;
pub mod python;
mod ruby;
mod rust;

pub use dotnet::DotnetDepsJson;
pub use golang::GoBinary;
pub use java::JavaArchive;
pub use npm::{NpmPackageJson, NpmPackageLock, PnpmLock, YarnLock};
pub use php::{ComposerInstalled, ComposerLock};
pub use python::PythonDistInfo;
pub use ruby::{GemfileLock, Gemspec};
pub use rust::{CargoAuditable, CargoLock};
