//! Helper threads that work ahead of the one doing a command's critical path.
//!
//! A sync runs up to five helpers beside its main thread (the diff ahead, the look at the
//! worktree ahead, the blob reader, the merge writer, a second file writer) on machines that
//! often have two cores. What the main thread does next waits on no helper most of the time,
//! but with three runnable threads on two cores the scheduler shares the cores evenly, and
//! the main thread, whose time is the command's time, loses a third of it. A helper that
//! only works ahead lowers its own priority ([`work_behind`]): it gets every cycle the main
//! thread leaves (it waits for a helper's result, or blocks on I/O), and gives way when the
//! main thread wants a core. On an idle machine nothing is slower; on a loaded one the
//! helpers also give way to other processes' threads, so a sync then takes longer than
//! with helpers at full priority.

/// How far below the caller's priority a helper works ahead (a nice value added).
const BEHIND: libc::c_int = 5;

/// Lower the calling thread's priority by [`BEHIND`] (Linux: `setpriority` on a thread id
/// sets that thread alone). Raising a nice value needs no privilege; a failure changes
/// nothing and is ignored: the helper then works at its caller's priority, as before.
pub fn work_behind() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and getpriority/setpriority take plain integers.
        #[allow(unsafe_code)]
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            *libc::__errno_location() = 0;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            if *libc::__errno_location() == 0 {
                libc::setpriority(libc::PRIO_PROCESS, tid, (now + BEHIND).min(19));
            }
        }
    }
}
