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

// SetBeforeRunStream sets the hook StartStream runs between sending the
// StreamStart and starting the goroutine that pays the stream (nil: none)
// and returns a func that restores the previous one.
func SetBeforeRunStream(f func(id [16]byte)) (restore func()) {
	var p *func(id [16]byte)
	if f != nil {
		p = &f
	}
	was := beforeRunStream.Swap(p)
	return func() { beforeRunStream.Store(was) }
}
