package io.kindling.client;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.ConnectException;
import java.nio.file.Path;

/** Turns the gRPC errors of calls into the client's typed exceptions. */
final class Errors {
  private Errors() {}

  /**
   * The exception that describes {@code error}. {@code received} says whether
   * the call had received a response (a stream that then broke had reached
   * the service even if the connection failed later).
   */
  static RequestFailedException translate(
      StatusRuntimeException error, Path socket, boolean received) {
    Status status = error.getStatus();
    switch (status.getCode()) {
      case INVALID_ARGUMENT:
        return new InvalidRequestException(status, socket, error);
      case UNAVAILABLE:
      case CANCELLED:
        ConnectException refused = connectFailure(error);
        boolean started = received || refused == null;
        String reason = refused != null ? refused.getMessage() : describe(status);
        return new ServiceUnavailableException(status, socket, started, reason, error);
      case DEADLINE_EXCEEDED:
        return new DeadlineExceededException(status, socket, error);
      case PERMISSION_DENIED:
        return new PermissionDeniedException(status, socket, error);
      case RESOURCE_EXHAUSTED:
        return new StreamOverflowedException(status, socket, error);
      case NOT_FOUND:
        return new StreamNotFoundException(status, socket, error);
      case FAILED_PRECONDITION:
        return new ConfigChangedException(status, socket, error);
      default:
        return new RequestFailedException(status, socket, error);
    }
  }

  /**
   * The failed connect behind an UNAVAILABLE, if that is what it was: Netty
   * reports it as a {@link ConnectException} (ECONNREFUSED for a socket file
   * nobody listens on), found by type rather than by wording.
   */
  private static ConnectException connectFailure(Throwable error) {
    for (Throwable t = error; t != null; t = t.getCause()) {
      if (t instanceof ConnectException) {
        return (ConnectException) t;
      }
    }
    return null;
  }

  private static String describe(Status status) {
    String description = status.getDescription();
    return description == null || description.isEmpty()
        ? status.getCode().toString()
        : description;
  }
}
