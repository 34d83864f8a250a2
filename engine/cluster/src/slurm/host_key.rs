//! A login node's host key seen for the first time: shown to the user
//! (its fingerprints, as `ssh` shows them) and, once they accept one,
//! written to the `known_hosts` file their ssh configuration reads, so host
//! keys stay checked. `ssh -G` says where the profile really connects
//! (a `~/.ssh/config` alias resolved) and which `known_hosts` file it uses;
//! `ssh-keyscan` reads the keys; `ssh-keygen -l` prints their fingerprints.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::ssh::SshTarget;
use crate::error::{Error, Result};

/// The keys a host offers, for the user to accept or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// The host as `known_hosts` names it (`name`, or `[name]:port`).
    pub host: String,
    /// Each key: its `known_hosts` line and its fingerprint ("ED25519 SHA256:...").
    pub keys: Vec<(String, String)>,
    /// The `known_hosts` file the profile's ssh reads first.
    pub known_hosts: PathBuf,
}

impl HostKey {
    /// The fingerprints, one per line, as the user compares them.
    pub fn describe(&self) -> String {
        let prints: Vec<&str> = self.keys.iter().map(|(_, f)| f.as_str()).collect();
        format!("{} offers {}", self.host, prints.join(", "))
    }
}

/// Where `ssh -G` says `target` connects.
struct Resolved {
    /// The host name to connect to.
    host: String,
    /// The `HostKeyAlias` known_hosts records it under, as written (ssh adds no port to it).
    alias: Option<String>,
    /// The port.
    port: u16,
    /// Reached through a jump host or proxy command.
    proxied: bool,
    /// The known_hosts file ssh reads first.
    known_hosts: PathBuf,
}

/// What `ssh -G` resolves for `target`.
fn resolved(target: &SshTarget) -> Result<Resolved> {
    let scratch = std::env::temp_dir();
    let out = Command::new("ssh")
        .arg("-G")
        .args(target.options(&scratch))
        .arg(target.destination())
        .output()
        .map_err(|e| Error::Other(format!("cannot run ssh: {e}; install the OpenSSH client")))?;
    if !out.status.success() {
        return Err(Error::Other(format!("ssh -G {}: {}", target.destination(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' '))).map(str::trim);
    let host = field("hostname").unwrap_or(&target.host).to_string();
    let alias = field("hostkeyalias").filter(|a| *a != "none").map(str::to_string);
    let port = field("port").and_then(|p| p.parse().ok()).unwrap_or(22);
    let proxied = field("proxyjump").is_some_and(|p| p != "none") || field("proxycommand").is_some_and(|p| p != "none");
    let file = field("userknownhostsfile").and_then(|f| f.split_whitespace().next()).unwrap_or("~/.ssh/known_hosts");
    Ok(Resolved { host, alias, port, proxied, known_hosts: expand_home(file) })
}

/// `~/x` as a path under the home folder.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The fingerprint of one `known_hosts` line ("ED25519 SHA256:...").
fn fingerprint(line: &str) -> Result<String> {
    let mut child = Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Other(format!("cannot run ssh-keygen: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{line}");
    }
    let out = child.wait_with_output().map_err(|e| Error::Other(e.to_string()))?;
    // "256 SHA256:abc... [host]:port (ED25519)"
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    match (words.get(1), words.last()) {
        (Some(print), Some(kind)) if out.status.success() => Ok(format!("{} {print}", kind.trim_matches(['(', ')']))),
        _ => Err(Error::Other(format!("ssh-keygen could not read the key: {}", String::from_utf8_lossy(&out.stderr).trim()))),
    }
}

/// The keys the profile's login node offers now.
pub fn scan(target: &SshTarget) -> Result<HostKey> {
    let Resolved { host, alias, port, proxied, known_hosts } = resolved(target)?;
    if proxied {
        return Err(Error::Other(format!(
            "{host} is reached through a jump host, which the workbench cannot scan: connect once with `ssh {}` in a terminal, \
             check the fingerprint and accept it",
            target.destination()
        )));
    }
    let out = Command::new("ssh-keyscan")
        .args(["-T", "10", "-p", &port.to_string(), &host])
        .output()
        .map_err(|e| Error::Other(format!("cannot run ssh-keyscan: {e}; install the OpenSSH client")))?;
    // known_hosts names the host as ssh looks it up: its HostKeyAlias as written where the config sets
    // one, else the host name, with the port when it is not 22.
    let named = match alias {
        Some(alias) => alias,
        None if port == 22 => host.clone(),
        None => format!("[{host}]:{port}"),
    };
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' ').map(|(_, key)| format!("{named} {key}")))
        .collect();
    if lines.is_empty() {
        return Err(Error::Other(format!("{host} port {port} offered no host key: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let keys = lines.into_iter().map(|l| fingerprint(&l).map(|f| (l, f))).collect::<Result<_>>()?;
    Ok(HostKey { host: named, keys, known_hosts })
}

/// Accepts the key with `fingerprint` (as [`scan`] showed it): the host is
/// scanned again and only a key with that very fingerprint is written, so a
/// key swapped in between is never accepted.
pub fn trust(target: &SshTarget, fingerprint: &str) -> Result<HostKey> {
    let now = scan(target)?;
    let Some((line, _)) = now.keys.iter().find(|(_, f)| f == fingerprint || f.ends_with(&format!(" {fingerprint}"))) else {
        return Err(Error::Other(format!("{} no longer offers the key {fingerprint}: {}; nothing was accepted", now.host, now.describe())));
    };
    if let Some(dir) = now.known_hosts.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::atomic::append_line(&now.known_hosts, line)?;
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_as_ssh_prints_them_and_home_is_expanded() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        let made = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).output().unwrap();
        assert!(made.status.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let line = format!("[127.0.0.1]:2222 {}", public.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        let print = fingerprint(&line).unwrap();
        let reference = Command::new("ssh-keygen").arg("-lf").arg(key.with_extension("pub")).output().unwrap();
        let reference = String::from_utf8_lossy(&reference.stdout).split_whitespace().nth(1).unwrap().to_string();
        assert_eq!(print, format!("ED25519 {reference}"));
        assert!(fingerprint("not a key").is_err());
        assert!(expand_home("~/.ssh/known_hosts").ends_with(".ssh/known_hosts") && !expand_home("~/x").starts_with("~"));
    }
}
