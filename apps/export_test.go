package apps

// SetBeforeStreamWrite sets the hook writeStreams runs before each queued
// stream write (nil: none) and returns a func that restores the previous one.
func SetBeforeStreamWrite(f func()) (restore func()) {
	var p *func()
	if f != nil {
		p = &f
	}
	was := beforeStreamWrite.Swap(p)
	return func() { beforeStreamWrite.Store(was) }
}
