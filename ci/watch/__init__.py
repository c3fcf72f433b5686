"""watch's own parts: the file watcher's bursts of changes to the targets' inputs, each burst's plan (what
is synced, what rebuilt), the proof of a sync (the files read back from the container and compared with the
tree), and the turns of its loop."""
