package worker

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// backendCodes maps the gRPC status of a failed backend call to the wire code
// of the error reply. Codes not listed become CodeInferFailed. The agent
// retries CodeBackendNotReady on another worker, so everything that a second
// later or elsewhere may succeed belongs there (C11).
var backendCodes = map[codes.Code]messages.Code{
	codes.NotFound:        messages.CodeUnknownModel,
	codes.InvalidArgument: messages.CodeBadFrame,
	codes.Unavailable:     messages.CodeBackendNotReady,
	// A backend slower than RequestTimeout is overloaded or stuck, and
	// Triton's own queue timeouts arrive as UNAVAILABLE anyway.
	codes.DeadlineExceeded:  messages.CodeBackendNotReady,
	codes.ResourceExhausted: messages.CodeBackendNotReady,
	// Canceled only happens when the worker aborts calls while stopping.
	codes.Canceled: messages.CodeBackendNotReady,
}

// wireError returns the code and text an error reply carries for err. A
// *messages.Error keeps its own code; anything else is read as a gRPC status
// (context errors included) and mapped through backendCodes.
func wireError(err error) (messages.Code, string) {
	var me *messages.Error
	if errors.As(err, &me) {
		return me.Code, me.Msg
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	code, ok := backendCodes[st.Code()]
	if !ok {
		code = messages.CodeInferFailed
	}
	return code, "backend " + st.Code().String() + ": " + st.Message()
}
