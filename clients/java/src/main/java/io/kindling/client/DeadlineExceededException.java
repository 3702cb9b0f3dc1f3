package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/** The deadline given to the call passed before it finished (DEADLINE_EXCEEDED). */
public final class DeadlineExceededException extends RequestFailedException {
  private static final long serialVersionUID = 1L;

  DeadlineExceededException(Status status, Path socket, Throwable cause) {
    super("the kindling probe service at " + socket + " did not finish in time (" + details(status) + ")", status, socket, cause);
  }

  private static String details(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }
}
