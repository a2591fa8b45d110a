//! This machine's GPUs, as `--gpus N|auto` declares them: a count, or what
//! `nvidia-smi -L` lists.

use std::process::Command;
use std::str::FromStr;

use crate::engine::gpu::MAX_GPUS;

/// `--gpus`: how a machine's GPUs are declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuArg {
    /// `N`: devices `0..N`.
    Count(u32),
    /// `auto`: the devices `nvidia-smi -L` lists (none without it).
    Auto,
}

impl FromStr for GpuArg {
    type Err = String;

    fn from_str(s: &str) -> Result<GpuArg, String> {
        if s == "auto" {
            return Ok(GpuArg::Auto);
        }
        match s.parse::<u32>() {
            Ok(n) if n <= MAX_GPUS => Ok(GpuArg::Count(n)),
            Ok(_) => Err(format!("at most {MAX_GPUS} GPUs")),
            Err(_) => Err(format!(
                "expected a count of GPUs (0 to {MAX_GPUS}) or `auto`, found `{s}`"
            )),
        }
    }
}

/// The GPUs a machine declared, and how they were found (for its startup line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpus {
    /// The device ids tasks are given: `0`, `1`, ... for a count; the UUIDs
    /// `nvidia-smi -L` lists for `auto` (stable whatever order CUDA numbers
    /// devices in).
    pub devices: Vec<String>,
    /// How they were found: `--gpus 2`, `nvidia-smi -L`, or why none were.
    pub source: String,
}

impl GpuArg {
    /// The devices this declares, running `nvidia-smi -L` for `auto`.
    pub fn resolve(self) -> Gpus {
        match self {
            GpuArg::Count(n) => Gpus {
                devices: crate::engine::gpu::numbered(n),
                source: format!("--gpus {n}"),
            },
            GpuArg::Auto => match nvidia_smi() {
                Ok(Ok(stdout)) => Gpus {
                    devices: listed(&String::from_utf8_lossy(&stdout)),
                    source: "--gpus auto: nvidia-smi -L".into(),
                },
                Ok(Err(why)) => Gpus {
                    devices: Vec::new(),
                    source: format!("--gpus auto: nvidia-smi -L failed ({why})"),
                },
                Err(e) => Gpus {
                    devices: Vec::new(),
                    source: format!("--gpus auto: no nvidia-smi ({e})"),
                },
            },
        }
    }
}

/// How long `nvidia-smi -L` may take: a wedged driver must not hang `dag run`
/// or a worker's start.
const NVIDIA_SMI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most of `nvidia-smi -L`'s output read (a line per device).
const NVIDIA_SMI_MAX_OUTPUT: u64 = 1 << 20;

/// Runs `nvidia-smi -L`: its output when it succeeds within
/// [`NVIDIA_SMI_TIMEOUT`] (at most [`NVIDIA_SMI_MAX_OUTPUT`] bytes of it), else
/// why not; `Err` when it cannot be started.
fn nvidia_smi() -> std::io::Result<Result<Vec<u8>, String>> {
    use std::io::Read;
    let mut child = Command::new("nvidia-smi")
        .arg("-L")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take();
    let (sent, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(NVIDIA_SMI_MAX_OUTPUT).read_to_end(&mut out);
        }
        let _ = sent.send(out);
    });
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait()? {
            Some(status) => break Some(status),
            None if started.elapsed() >= NVIDIA_SMI_TIMEOUT => break None,
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(Err(format!(
            "no answer in {}",
            humantime::format_duration(NVIDIA_SMI_TIMEOUT)
        )));
    };
    if !status.success() {
        return Ok(Err(status.to_string()));
    }
    // The output ends with the process; a child it left holding the pipe is
    // waited for a second at most (the reader thread is left to it).
    Ok(read
        .recv_timeout(std::time::Duration::from_secs(1))
        .map_err(|_| "its output did not end".to_string()))
}

/// The devices of `nvidia-smi -L`'s output (`GPU 0: NVIDIA A100 (UUID: GPU-…)`,
/// one a line): their UUIDs, else their indices; at most [`MAX_GPUS`], each
/// once. A UUID with other characters than a device id has (a comma would make
/// it two devices in `CUDA_VISIBLE_DEVICES`) is not used: its index is.
pub fn listed(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("GPU ") else {
            continue;
        };
        let Some((index, rest)) = rest.split_once(':') else {
            continue;
        };
        let Ok(index) = index.trim().parse::<u32>() else {
            continue;
        };
        let uuid = rest
            .rsplit_once("(UUID:")
            .and_then(|(_, u)| u.split(')').next())
            .map(str::trim)
            .filter(|u| !u.is_empty() && u.len() <= 128 && u.chars().all(device_id_char));
        let id = uuid.map_or_else(|| index.to_string(), str::to_string);
        // A device listed twice is one device: handed out twice, it would be
        // shared, and given back once, lost.
        if !out.contains(&id) {
            out.push(id);
        }
        if out.len() == MAX_GPUS as usize {
            break;
        }
    }
    out
}

/// Whether `c` may be part of a device id (`GPU-5d9c…`, `MIG-GPU-…/1/0`).
fn device_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_auto_parse_and_the_rest_is_refused() {
        assert_eq!("2".parse(), Ok(GpuArg::Count(2)));
        assert_eq!("auto".parse(), Ok(GpuArg::Auto));
        assert!("abc".parse::<GpuArg>().unwrap_err().contains("found `abc`"));
        assert!("-1".parse::<GpuArg>().is_err());
        assert!("1025".parse::<GpuArg>().is_err());
    }

    #[test]
    fn nvidia_smi_listing_gives_uuids() {
        let text = "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5d9c1c3e-aaaa)\nGPU 1: Tesla T4 (UUID: GPU-77e1)\n  MIG 1g.5gb Device 0: (UUID: MIG-1234)\nGPU 2: Odd\n";
        assert_eq!(listed(text), ["GPU-5d9c1c3e-aaaa", "GPU-77e1", "2"]);
        assert!(listed("").is_empty());
    }

    #[test]
    fn odd_nvidia_smi_listings_give_distinct_safe_ids() {
        let text = "GPU 0: X (UUID: SAME)\nGPU 1: X (UUID: SAME)\nGPU 2: X (UUID: a,b)\nGPU 3: X (UUID: x y)\nGPU 3: X\n";
        assert_eq!(listed(text), ["SAME", "2", "3"]);
        let many: String = (0..5000).map(|i| format!("GPU {i}: X\n")).collect();
        assert_eq!(listed(&many).len(), MAX_GPUS as usize);
    }
}
