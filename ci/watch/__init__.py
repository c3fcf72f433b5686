"""watch's own parts: the file watcher's bursts of changes to the targets' inputs, and the turns of its loop."""
