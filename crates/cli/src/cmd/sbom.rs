//! `portcullis sbom TARGET`: the packages of an image as CycloneDX, SPDX or Portcullis JSON.

use std::process::ExitCode;

use anyhow::Context;
use portcullis_scanner::{Scanner, ScannerConfig};

use crate::args::{SbomArgs, SbomFormat};

pub(crate) async fn run(a: SbomArgs) -> anyhow::Result<ExitCode> {
    let cfg = ScannerConfig {
        image: super::image_options(&a.image)?,
        ..Default::default()
    };
    let scanner = Scanner::new(cfg)?;
    let inv = scanner.inventory(&a.target).await?;
    super::say_warnings(&inv.warnings);
    let format = match a.format {
        SbomFormat::CyclonedxJson => portcullis_sbom::Format::CycloneDxJson,
        SbomFormat::SpdxJson => portcullis_sbom::Format::SpdxJson,
        SbomFormat::Json => portcullis_sbom::Format::Json,
    };
    let opts = portcullis_sbom::EncodeOptions {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        timestamp: None,
        serial: None,
    };
    let mut bytes = portcullis_sbom::encode(&inv, format, &opts).context("encoding the SBOM")?;
    bytes.push(b'\n');
    super::write_output(a.output.as_deref(), &bytes)?;
    Ok(ExitCode::SUCCESS)
}
