package sagas

import (
	"errors"

	"github.com/seatline/seatline/domain"
)

func isConflict(err error) bool {
	var de *domain.Error
	return errors.As(err, &de) && de.Kind == domain.Conflict
}
