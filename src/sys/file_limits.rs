//! This process's limit on open files: read it, raise it to the hard limit (as load
//! tools do, so 1,024 does not cap connections; children inherit it), or set it.

/// Raises this process's soft limit on open files to its hard limit (as most load
/// tools do), so the default soft limit of 1,024 does not cap connections; children
/// inherit it. Returns the limit now in force (None when the OS will not say).
pub fn raise_open_file_limit() -> Option<u64> {
    let limit = file_limits().ok()?;
    if limit.rlim_cur < limit.rlim_max && set_open_file_limit(limit.rlim_max).is_ok() {
        return Some(limit.rlim_max);
    }
    Some(limit.rlim_cur)
}

/// Sets this process's soft limit on open files to `files` (at most the hard limit).
pub fn set_open_file_limit(files: u64) -> std::io::Result<()> {
    let mut limit = file_limits()?;
    if files > limit.rlim_max {
        return Err(std::io::Error::other(format!(
            "the hard limit is {}",
            limit.rlim_max
        )));
    }
    limit.rlim_cur = files;
    // SAFETY: valid resource and pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// This process's soft and hard limits on open files.
pub fn file_limits() -> std::io::Result<libc::rlimit> {
    // SAFETY: getrlimit only writes into the struct we pass.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: valid resource and pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit)
}

/// This process's soft limit on open files (None when the OS will not say).
pub fn open_file_limit() -> Option<u64> {
    file_limits().ok().map(|limit| limit.rlim_cur)
}
