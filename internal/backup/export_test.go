package backup

import "time"

// SetCatchUp shortens s's [CatchUpDelay] for a test.
func SetCatchUp(s *Service, d time.Duration) { s.catchUp = d }
