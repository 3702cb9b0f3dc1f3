package io.kindling.client;

import io.grpc.Status;
import java.nio.file.Path;

/** The service does not let this caller make the call (PERMISSION_DENIED): Configure is for root and the service's admin group, reading for the socket's group. */
public final class PermissionDeniedException extends RequestFailedException {
  private static final long serialVersionUID = 1L;

  PermissionDeniedException(Status status, Path socket, Throwable cause) {
    super("the kindling probe service at " + socket + " refused the call: " + details(status), status, socket, cause);
  }

  private static String details(Status status) {
    return status.getDescription() == null ? "" : status.getDescription();
  }
}
