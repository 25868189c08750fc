//! Pinning threads and child processes to CPUs, so the server under test, the load
//! generator and the upstream do not compete for the same core.

/// Restricts the calling thread to `cpus` (no-op for an empty list).
pub fn pin_current_thread(cpus: &[usize]) -> std::io::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: as above; out-of-range CPUs are ignored by CPU_SET's bounds.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; the set is valid for its size.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The CPUs process `pid` may run on (its main thread's mask), in order.
pub fn cpus_of(pid: u32) -> std::io::Result<Vec<usize>> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: cpu_set_t is plain data, written by sched_getaffinity within its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set is valid for its size.
    let rc =
        unsafe { libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: CPU_ISSET only reads inside the set.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Why a process asked to run on `asked` does not, in words (None: it does, or nothing
/// was asked). A pin is best effort (an unknown CPU leaves a child unpinned), so the
/// cell records when it did not hold.
pub fn pin_note(pid: u32, asked: &[usize]) -> Option<String> {
    if asked.is_empty() {
        return None;
    }
    let mut wanted = asked.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    match cpus_of(pid) {
        Ok(actual) if actual == wanted => None,
        Ok(actual) => Some(format!(
            "the pin to CPUs {wanted:?} did not hold: it may run on {actual:?} (does this machine have those CPUs?)"
        )),
        Err(error) => Some(format!("its CPU pin could not be read back: {error}")),
    }
}

/// The number of CPUs this process may run on.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_to_cpu_zero_is_visible_in_the_affinity_mask() {
        std::thread::spawn(|| {
            pin_current_thread(&[0]).unwrap();
            // SAFETY: as in pin_current_thread.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            let rc = unsafe {
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
            };
            assert_eq!(rc, 0);
            assert!(unsafe { libc::CPU_ISSET(0, &set) });
            assert_eq!(unsafe { libc::CPU_COUNT(&set) }, 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_pin_that_did_not_hold_is_said_and_one_that_did_is_not() {
        let me = std::process::id();
        let mine = cpus_of(me).unwrap();
        assert!(!mine.is_empty());
        assert_eq!(pin_note(me, &[]), None, "nothing asked");
        assert_eq!(pin_note(me, &mine), None, "the mask it has");
        let note = pin_note(me, &[100_000]).expect("a CPU no machine here has");
        assert!(note.contains("did not hold"), "{note}");
    }
}
