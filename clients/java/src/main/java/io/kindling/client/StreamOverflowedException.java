package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/** The stream was read too slowly, its queue filled up, and it had asked to be disconnected then (OVERFLOW_POLICY_DISCONNECT, RESOURCE_EXHAUSTED). A resumable stream can be resumed and reports what it lost meanwhile. */
public final class StreamOverflowedException extends RequestFailedException {
  private static final long serialVersionUID = 1L;

  StreamOverflowedException(Status status, Path socket, Throwable cause) {
    super("the kindling probe service at " + socket + " ended the stream: " + details(status), status, socket, cause);
  }

  private static String details(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }
}
