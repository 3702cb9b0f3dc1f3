package io.kindling.client;

import java.nio.file.Path;

/** There is no unix socket at the path the client was given. */
public final class ServiceNotFoundException extends KindlingException {
  private static final long serialVersionUID = 1L;

  private final transient Path socket;

  ServiceNotFoundException(Path socket, String why, Throwable cause) {
    super("no kindling probe service at " + socket + ": " + why, cause);
    this.socket = socket;
  }

  /** The path the client was given. */
  public Path socket() {
    return socket;
  }
}
