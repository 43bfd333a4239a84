//! Where images live (`<home>/images/<key>/` with `rootfs/` and `manifest.json`, bases under
//! `<home>/bases/`), listing and removing them, and building one when it is missing. A build
//! happens in a `.tmp` directory renamed into place at the end, so a crash never leaves a
//! half-made image that looks finished.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ImageInputs;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Io(#[from] strata_sys::IoError),
    #[error(transparent)]
    Command(#[from] strata_sys::CmdError),
    #[error("no image {0}; `strata image list` shows the images there are")]
    NotFound(String),
    #[error("another image build holds the lock {0}")]
    Locked(PathBuf),
}

pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ImageError + 'a {
    move |source| ImageError::Io(strata_sys::io(what, path)(source))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub key: String,
    pub inputs: ImageInputs,
    /// Unix seconds.
    pub created: u64,
    pub build_seconds: f64,
    pub size_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub key: String,
    pub rootfs: PathBuf,
    pub manifest: Manifest,
}

pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// The store under `home` (e.g. /var/lib/strata).
    pub fn new(home: &Path) -> Self {
        ImageStore {
            root: home.to_owned(),
        }
    }

    fn images(&self) -> PathBuf {
        self.root.join("images")
    }

    pub(crate) fn bases(&self) -> PathBuf {
        self.root.join("bases")
    }

    pub fn get(&self, key: &str) -> Option<Image> {
        let dir = self.images().join(key);
        let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        Some(Image {
            key: key.to_owned(),
            rootfs: dir.join("rootfs"),
            manifest,
        })
    }

    /// Finished images, oldest first.
    pub fn list(&self) -> Vec<Image> {
        let Ok(dir) = std::fs::read_dir(self.images()) else {
            return Vec::new();
        };
        let mut images: Vec<Image> = dir
            .filter_map(Result::ok)
            .filter_map(|e| self.get(e.file_name().to_str()?))
            .collect();
        images.sort_by_key(|i| i.manifest.created);
        images
    }

    pub fn remove(&self, key: &str) -> Result<(), ImageError> {
        if self.get(key).is_none() {
            return Err(ImageError::NotFound(key.to_owned()));
        }
        let dir = self.images().join(key);
        std::fs::remove_dir_all(&dir).map_err(io("removing", &dir))
    }

    /// The image for `inputs`, built if missing. `progress` receives a line per phase.
    /// Returns the image and whether it came from the cache.
    pub fn build(
        &self,
        inputs: &ImageInputs,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(Image, bool), ImageError> {
        let key = inputs.key();
        if let Some(image) = self.get(&key) {
            return Ok((image, true));
        }
        std::fs::create_dir_all(self.images()).map_err(io("creating", &self.images()))?;
        let _lock = crate::build::Lock::take(&self.root.join("images/.lock"))?;
        if let Some(image) = self.get(&key) {
            return Ok((image, true)); // built by whoever held the lock
        }
        let started = Instant::now();
        let base = crate::build::base(self, inputs, progress)?;
        let tmp = self.images().join(format!("{key}.tmp"));
        crate::build::image_from_base(&base, &tmp, inputs, progress)?;
        let size_bytes = crate::build::disk_usage(&tmp.join("rootfs"));
        let manifest = Manifest {
            key: key.clone(),
            inputs: inputs.clone(),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            build_seconds: started.elapsed().as_secs_f64(),
            size_bytes,
        };
        let manifest_path = tmp.join("manifest.json");
        std::fs::write(
            &manifest_path,
            serde_json::to_string_pretty(&manifest).expect("manifest serializes"),
        )
        .map_err(io("writing", &manifest_path))?;
        let dir = self.images().join(&key);
        std::fs::rename(&tmp, &dir).map_err(io("renaming into place", &dir))?;
        Ok((self.get(&key).expect("just built"), false))
    }
}
