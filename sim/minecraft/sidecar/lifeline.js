'use strict'
// The Node processes of the minecraft/v1 world must never outlive the Python process that
// started them, even when Python is killed with SIGKILL (no chance to clean up). Two watches:
// stdin closing (the pipe's writer died or closed it) and the parent pid disappearing (covers
// a parent whose pipe end was inherited by some other process). The Python side also asks the
// kernel for PR_SET_PDEATHSIG where it can; this is the part that works everywhere.

const POLL_MS = 500

function parentAlive (pid) {
  if (!pid || pid <= 1) return true // nothing to watch
  if (process.ppid !== pid) return false // reparented: the parent is gone
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM' // alive, only not ours to signal
  }
}

function watchParent (onGone) {
  const pid = parseInt(process.env.STEVE_PARENT_PID || '0', 10) || process.ppid
  let gone = false
  const bye = (why) => {
    if (gone) return
    gone = true
    onGone(why)
  }
  process.stdin.on('end', () => bye('stdin closed'))
  process.stdin.on('error', () => bye('stdin error'))
  const timer = setInterval(() => { if (!parentAlive(pid)) bye('parent gone') }, POLL_MS)
  timer.unref()
  return timer
}

module.exports = { watchParent }
