package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/** The service rejected the request as invalid (INVALID_ARGUMENT); {@link #details()} names the field, for example {@code allow_list[0].names[0]}, and nothing was changed. */
public final class InvalidRequestException extends RequestFailedException {
  private static final long serialVersionUID = 1L;

  InvalidRequestException(Status status, Path socket, Throwable cause) {
    super("the kindling probe service at " + socket + " rejected the request: " + details(status), status, socket, cause);
  }

  private static String details(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }
}
