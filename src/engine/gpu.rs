//! GPUs: which of an executor's (or a worker's) devices each running attempt
//! holds. A task with `gpus: N` holds N distinct devices while an attempt runs;
//! attempts running at once never share one.

use super::graph::Dag;

/// The most GPUs a task may ask for, and a machine may declare (`--gpus`).
pub const MAX_GPUS: u32 = 1024;

/// The variables a bash task's process gets, each set to the comma-joined ids of
/// the devices its attempt holds: CUDA programs see only those, and so do
/// containers started from it by the NVIDIA runtime.
pub const ENV_NAMES: [&str; 2] = ["CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"];

/// The environment that confines a process to `devices` (none when it holds none).
pub fn env(devices: &[String]) -> Vec<(String, String)> {
    if devices.is_empty() {
        return Vec::new();
    }
    let joined = devices.join(",");
    ENV_NAMES
        .iter()
        .map(|name| (name.to_string(), joined.clone()))
        .collect()
}

/// The ids of `n` devices numbered `0..n` (`--gpus N`).
pub fn numbered(n: u32) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// The devices of one machine and which of them are free. Devices are handed
/// out lowest first (in the order the machine lists them) and come back when
/// the attempt that held them ends.
#[derive(Clone, Debug, Default)]
pub struct Devices {
    all: Vec<String>,
    free: Vec<bool>,
}

impl Devices {
    /// The machine's devices, all free.
    pub fn new(all: Vec<String>) -> Devices {
        let free = vec![true; all.len()];
        Devices { all, free }
    }

    /// How many devices the machine has.
    pub fn total(&self) -> usize {
        self.all.len()
    }

    /// How many are free now.
    pub fn free(&self) -> usize {
        self.free.iter().filter(|f| **f).count()
    }

    /// `n` free devices, now held; `None` (nothing taken) when fewer are free.
    pub fn take(&mut self, n: u32) -> Option<Vec<String>> {
        let n = n as usize;
        if n > self.free() {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for (i, free) in self.free.iter_mut().enumerate() {
            if out.len() == n {
                break;
            }
            if *free {
                *free = false;
                out.push(self.all[i].clone());
            }
        }
        Some(out)
    }

    /// Frees `devices` (ids this machine does not have are ignored).
    pub fn give_back(&mut self, devices: &[String]) {
        for d in devices {
            if let Some(i) = self.all.iter().position(|a| a == d) {
                self.free[i] = true;
            }
        }
    }
}

/// The GPUs of this machine as the runs this process drives share them (a run
/// and its sub-DAG runs, or the runs of an embedding program): an attempt of
/// any of them holds its devices here, so two never hold one at once.
#[derive(Debug)]
pub struct Machine {
    devices: std::sync::Mutex<Devices>,
    /// Bumped whenever devices are given back: what waiting runs watch.
    freed: tokio::sync::watch::Sender<u64>,
}

impl Machine {
    /// A machine with the devices `all`, all free.
    pub fn new(all: Vec<String>) -> Machine {
        Machine {
            devices: std::sync::Mutex::new(Devices::new(all)),
            freed: tokio::sync::watch::channel(0).0,
        }
    }

    fn devices(&self) -> std::sync::MutexGuard<'_, Devices> {
        // Devices are plain data, left whole by a panic elsewhere.
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many devices the machine has.
    pub fn total(&self) -> usize {
        self.devices().total()
    }

    /// How many are free now.
    pub fn free(&self) -> usize {
        self.devices().free()
    }

    /// `n` free devices, now held; `None` when fewer are free.
    pub fn take(&self, n: u32) -> Option<Vec<String>> {
        self.devices().take(n)
    }

    /// Frees `devices`, and tells the runs waiting for some.
    pub fn give_back(&self, devices: &[String]) {
        if devices.is_empty() {
            return;
        }
        self.devices().give_back(devices);
        self.freed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What changes whenever devices are given back.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.freed.subscribe()
    }

    /// `n` devices, waiting until that many are free; `None` when `stop` fires
    /// first. (`n` must not exceed [`Machine::total`].)
    pub async fn take_when_free(
        &self,
        n: u32,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Option<Vec<String>> {
        let mut freed = self.watch();
        loop {
            if let Some(held) = self.take(n) {
                return Some(held);
            }
            tokio::select! {
                changed = freed.changed() => changed.ok()?,
                _ = stop.cancelled() => return None,
            }
        }
    }
}

impl Default for Machine {
    fn default() -> Machine {
        Machine::new(Vec::new())
    }
}

/// Why a task of `dag` can never run on a machine with `total` GPUs: the first
/// (in declaration order) that needs more, as ``task `train` needs 3 GPUs, and
/// this machine has 2``.
pub fn unservable(dag: &Dag, total: usize) -> Option<String> {
    dag.spec
        .tasks
        .iter()
        .find(|t| t.gpus as usize > total)
        .map(|t| too_few(&t.id, t.gpus, total))
}

/// The reason an attempt needing `wants` GPUs cannot run where there are `total`.
pub fn too_few(task: &str, wants: u32, total: usize) -> String {
    format!(
        "task `{task}` needs {wants} GPU{}, and this machine has {total}",
        if wants == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_handed_out_disjoint_and_come_back() {
        let mut d = Devices::new(numbered(3));
        let a = d.take(2).unwrap();
        assert_eq!(a, ["0", "1"]);
        assert_eq!(d.take(2), None, "only one is free");
        let b = d.take(1).unwrap();
        assert_eq!(b, ["2"]);
        d.give_back(&a);
        assert_eq!(d.free(), 2);
        assert_eq!(d.take(2).unwrap(), ["0", "1"]);
        assert_eq!(d.take(0).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn env_names_the_devices_held() {
        assert!(env(&[]).is_empty());
        assert_eq!(
            env(&["1".into(), "3".into()]),
            [
                ("CUDA_VISIBLE_DEVICES".to_string(), "1,3".to_string()),
                ("NVIDIA_VISIBLE_DEVICES".to_string(), "1,3".to_string())
            ]
        );
    }
}
