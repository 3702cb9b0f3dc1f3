package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/**
 * A call to the probe service failed. Its subclasses name the failures a
 * collector handles; this class itself covers the other gRPC codes. The gRPC
 * {@link io.grpc.StatusRuntimeException} is the cause.
 */
public class RequestFailedException extends KindlingException {
  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String details;
  private final transient Path socket;

  RequestFailedException(String message, Status status, Path socket, Throwable cause) {
    super(message, cause);
    this.code = status.getCode();
    this.details = status.getDescription() == null ? "" : status.getDescription();
    this.socket = socket;
  }

  RequestFailedException(Status status, Path socket, Throwable cause) {
    this(
        "the kindling probe service at " + socket + " failed the request: " + status.getCode()
            + ": " + (status.getDescription() == null ? "" : status.getDescription()),
        status,
        socket,
        cause);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The message the service (or gRPC) gave with the code; may be empty. */
  public String details() {
    return details;
  }

  /** The socket of the service that was called. */
  public Path socket() {
    return socket;
  }
}
