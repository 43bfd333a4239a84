//! `strata image build|list|rm`: the lab's host images.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use strata_image::{ImageInputs, ImageStore};

use crate::cli::{OptionalSpecArgs, SpecArgs};
use crate::printer::Printer;

/// The image inputs for a valid spec: every package its hosts need, and the test guest.
pub fn inputs_for(loaded: &super::Loaded) -> ImageInputs {
    let model = loaded.model.as_ref().expect("a valid spec has a model");
    ImageInputs::bookworm(
        strata_plan::all_packages(model, &loaded.catalog),
        Vec::new(),
    )
    .with_guest(strata_plan::guest_packages(model, &loaded.catalog))
}

/// Builds (or finds) an image, printing progress.
pub fn ensure(
    home: &Path,
    inputs: &ImageInputs,
    out: &mut Printer,
) -> anyhow::Result<strata_image::Image> {
    let store = ImageStore::new(home);
    let (image, cached) = store.build(inputs, &mut |line: &str| {
        out.note(&format!("strata: image: {line}\n"))
    })?;
    if cached {
        out.note(&format!("strata: image {} (cached)\n", image.key));
    } else {
        out.note(&format!(
            "strata: image {} built in {:.0} s, {}\n",
            image.key,
            image.manifest.build_seconds,
            size(image.manifest.size_bytes)
        ));
    }
    Ok(image)
}

pub fn build(home: &Path, args: &OptionalSpecArgs, out: &mut Printer) -> anyhow::Result<ExitCode> {
    let inputs = match &args.spec {
        Some(spec) => {
            let spec_args = SpecArgs {
                spec: spec.clone(),
                overrides: args.overrides.clone(),
                deny_warnings: false,
                catalog: args.catalog.clone(),
            };
            let loaded = valid_or_exit!(&spec_args, out);
            inputs_for(&loaded)
        }
        None => ImageInputs::bookworm(Vec::new(), Vec::new()),
    };
    let image = ensure(home, &inputs, out)?;
    out.out(&format!("{}\n", image.key));
    Ok(ExitCode::SUCCESS)
}

pub fn list(home: &Path, out: &mut Printer) -> anyhow::Result<ExitCode> {
    let images = ImageStore::new(home).list();
    if images.is_empty() {
        out.note("no images; `strata image build [SPEC]` makes one\n");
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{:<24} {:>9} {:>8}  {}\n",
        "IMAGE", "SIZE", "BUILD", "PACKAGES"
    );
    for i in images {
        let packages = if i.manifest.inputs.packages.is_empty() {
            "(base only)".to_owned()
        } else {
            i.manifest.inputs.packages.join(" ")
        };
        text.push_str(&format!(
            "{:<24} {:>9} {:>7.0}s  {}\n",
            i.key,
            size(i.manifest.size_bytes),
            i.manifest.build_seconds,
            packages
        ));
    }
    out.out(&text);
    Ok(ExitCode::SUCCESS)
}

pub fn remove(home: &Path, key: &str, out: &mut Printer) -> anyhow::Result<ExitCode> {
    for lab in strata_lab::LabState::list(home) {
        if lab.image().as_deref() == Some(key) && lab.hosts().iter().any(|h| h.process().is_alive())
        {
            bail!(
                "lab `{}` runs on image {key}: `strata lab down --lab {}` first",
                lab.name,
                lab.name
            );
        }
    }
    ImageStore::new(home).remove(key)?;
    out.out(&format!("removed image {key}\n"));
    Ok(ExitCode::SUCCESS)
}

pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}
