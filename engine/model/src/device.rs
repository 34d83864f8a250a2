//! Devices: parsing `cpu` / `cuda:N` / `metal:N`, creating candle devices,
//! and the memory each one offers (the budget for the memory estimate).

use candle_core::Device;

use crate::error::{Error, Result};

/// Whether this CPU trains in bf16 (`training.precision = "bf16"`): it has
/// the AMX tile unit and the operating system lets this process use it.
pub fn cpu_has_amx() -> bool {
    crate::kernels::amx::available()
}

/// A compute device named in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// The host CPU.
    Cpu,
    /// An NVIDIA GPU (needs the `cuda` cargo feature).
    Cuda(usize),
    /// An Apple GPU (needs the `metal` cargo feature).
    Metal(usize),
}

/// Parses `cpu`, `cuda`, `cuda:N`, `metal` or `metal:N`.
pub fn parse_device_name(name: &str) -> std::result::Result<DeviceKind, String> {
    let (kind, idx) = match name.split_once(':') {
        Some((k, i)) => (k, i.parse::<usize>().map_err(|_| format!("bad device index in {name:?}"))?),
        None => (name, 0),
    };
    match kind {
        "cpu" => Ok(DeviceKind::Cpu),
        "cuda" => Ok(DeviceKind::Cuda(idx)),
        "metal" => Ok(DeviceKind::Metal(idx)),
        _ => Err(format!("unknown device {name:?}; use cpu, cuda:N or metal:N")),
    }
}

/// Creates the candle device for `name`. A GPU device in a build without its
/// feature is an error that says which feature to enable.
pub fn open(name: &str) -> Result<Device> {
    let kind = parse_device_name(name).map_err(Error::Other)?;
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda(i) => {
            if cfg!(feature = "cuda") {
                Ok(Device::new_cuda(i)?)
            } else {
                Err(Error::Other(format!("device {name}: this build has no CUDA support; rebuild with `--features cuda`")))
            }
        }
        DeviceKind::Metal(i) => {
            if cfg!(feature = "metal") {
                Ok(Device::new_metal(i)?)
            } else {
                Err(Error::Other(format!("device {name}: this build has no Metal support; rebuild with `--features metal`")))
            }
        }
    }
}

/// Memory the device offers, in bytes, where it can be known: physical RAM
/// for the CPU (from `/proc/meminfo`).
pub fn memory_bytes(kind: DeviceKind) -> Option<u64> {
    match kind {
        DeviceKind::Cpu => {
            let info = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        }
        DeviceKind::Cuda(_) | DeviceKind::Metal(_) => None,
    }
}

/// Devices this build can use, with their memory where known: the CPU, and
/// the first CUDA or Metal device when built with that feature and present.
pub fn available() -> Vec<(String, Option<u64>)> {
    let mut out = vec![("cpu".to_string(), memory_bytes(DeviceKind::Cpu))];
    if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
        out.push(("cuda:0".to_string(), None));
    }
    if cfg!(feature = "metal") && candle_core::utils::metal_is_available() {
        out.push(("metal:0".to_string(), None));
    }
    out
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// This process's resident memory now (Linux; None elsewhere).
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// A size field of `/proc/self/status`.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_always_available_with_its_memory() {
        let devices = available();
        assert_eq!(devices[0].0, "cpu");
        assert!(devices[0].1.is_some_and(|b| b > 0));
    }

    #[test]
    fn parses_device_names() {
        assert_eq!(parse_device_name("cpu"), Ok(DeviceKind::Cpu));
        assert_eq!(parse_device_name("cuda:1"), Ok(DeviceKind::Cuda(1)));
        assert!(parse_device_name("tpu").is_err());
        assert!(parse_device_name("cuda:x").is_err());
    }
}
