package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/** The stream to resume is gone (NOT_FOUND): its resume window passed or the service restarted; start a new stream. */
public final class StreamNotFoundException extends RequestFailedException {
  private static final long serialVersionUID = 1L;

  StreamNotFoundException(Status status, Path socket, Throwable cause) {
    super("the kindling probe service at " + socket + " cannot resume: " + details(status), status, socket, cause);
  }

  private static String details(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }
}
