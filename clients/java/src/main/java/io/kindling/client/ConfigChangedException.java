package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/** A Configure with an expected generation found another one (FAILED_PRECONDITION): someone changed the configuration since it was read; nothing was changed. */
public final class ConfigChangedException extends RequestFailedException {
  private static final long serialVersionUID = 1L;

  ConfigChangedException(Status status, Path socket, Throwable cause) {
    super("the kindling probe service at " + socket + " changed nothing: " + details(status), status, socket, cause);
  }

  private static String details(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }
}
