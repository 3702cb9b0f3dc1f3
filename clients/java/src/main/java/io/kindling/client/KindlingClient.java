package io.kindling.client;

import io.grpc.StatusRuntimeException;
import io.grpc.stub.AbstractStub;
import io.kindling.probe.v1.ConfigureRequest;
import io.kindling.probe.v1.ConfigureResponse;
import io.kindling.probe.v1.GetConfigRequest;
import io.kindling.probe.v1.GetConfigResponse;
import io.kindling.probe.v1.GetInfoRequest;
import io.kindling.probe.v1.GetInfoResponse;
import io.kindling.probe.v1.ProbeServiceGrpc;
import io.kindling.probe.v1.SubscribeRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A connection to the kindling probe service on its unix socket.
 *
 * <pre>{@code
 * try (KindlingClient client = KindlingClient.connect();
 *     Subscription events = client.subscribe(SubscribeRequest.getDefaultInstance())) {
 *   for (StreamItem item : events) { ... }
 * }
 * }</pre>
 *
 * <p>{@link #connect()} checks that the socket exists, like the Python and Go
 * clients, and throws {@link ServiceNotFoundException} if not; it does not
 * wait for the service, so an unreachable one (a stale socket file) shows up
 * as a {@link ServiceUnavailableException} from the first call. Failed calls
 * throw a {@link RequestFailedException} subclass. The client is safe to use
 * from several threads.
 */
public final class KindlingClient implements AutoCloseable {
  /** The socket the service listens on unless told otherwise. */
  public static final String DEFAULT_SOCKET = "/run/kindling.sock";

  /** The environment variable that overrides {@link #DEFAULT_SOCKET}. */
  public static final String SOCKET_ENV = "KINDLING_SOCKET";

  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;

  private final Path socket;
  private final DomainSocketTransport transport;
  private final ProbeServiceGrpc.ProbeServiceBlockingStub stub;
  private volatile boolean closed;

  private KindlingClient(Path socket) {
    this.socket = socket;
    this.transport = new DomainSocketTransport(socket);
    this.stub = ProbeServiceGrpc.newBlockingStub(transport.channel());
  }

  /** {@code $KINDLING_SOCKET}, or {@link #DEFAULT_SOCKET} when it is unset or empty. */
  public static Path defaultSocket() {
    String env = System.getenv(SOCKET_ENV);
    return Path.of(env == null || env.isEmpty() ? DEFAULT_SOCKET : env);
  }

  /** Connects to the service at {@link #defaultSocket()}. */
  public static KindlingClient connect() {
    return connect(defaultSocket());
  }

  /** Connects to the service listening on {@code socket}. */
  public static KindlingClient connect(Path socket) {
    Objects.requireNonNull(socket, "socket");
    checkSocket(socket);
    return new KindlingClient(socket);
  }

  private static void checkSocket(Path socket) {
    int mode;
    try {
      mode = (Integer) Files.getAttribute(socket, "unix:mode");
    } catch (NoSuchFileException e) {
      throw new ServiceNotFoundException(
          socket, "the socket does not exist; start the service with \"kindling-probe serve\"", e);
    } catch (IOException e) {
      throw new ServiceNotFoundException(socket, "cannot check the socket: " + e.getMessage(), e);
    }
    if ((mode & S_IFMT) != S_IFSOCK) {
      throw new ServiceNotFoundException(socket, "the path exists but is not a unix socket", null);
    }
  }

  /** The socket path, as given. */
  public Path socket() {
    return socket;
  }

  /** The generated blocking stub, for calls that need other call options. */
  public ProbeServiceGrpc.ProbeServiceBlockingStub stub() {
    return stub;
  }

  /**
   * Opens a stream of the events {@code request} selects. The call does not
   * wait: the service's answer, a rejection of the filters included, is seen
   * when iterating.
   */
  public Subscription subscribe(SubscribeRequest request) {
    return new Subscription(request, socket, this::isClosed, stub::subscribe, "", 0);
  }

  /** Like {@link #subscribe(SubscribeRequest)}, with a deadline for the whole stream. */
  public Subscription subscribe(SubscribeRequest request, Duration timeout) {
    ProbeServiceGrpc.ProbeServiceBlockingStub timed = withTimeout(stub, timeout);
    return new Subscription(request, socket, this::isClosed, timed::subscribe, "", 0);
  }

  /**
   * Continues a resumable stream (its request set {@code resume_window}) that
   * was disconnected or closed: the new subscription first gets every event
   * after {@code previous.lastSeq()} the service still has, once, and a
   * {@link LossNotice} (LOSS_REASON_RESUME_TOO_LATE) for those it no longer
   * has, then the stream goes on. Iterating throws
   * {@link StreamNotFoundException} when the stream is gone.
   */
  public Subscription resume(Subscription previous) {
    return resume(previous, null);
  }

  /** Like {@link #resume(Subscription)}, with a deadline for the whole stream. */
  public Subscription resume(Subscription previous, Duration timeout) {
    if (previous.streamId().isEmpty()) {
      throw new IllegalArgumentException(
          "the stream is not resumable, or no response of it has arrived: "
              + "subscribe with resume_window set, and read from it first");
    }
    ProbeServiceGrpc.ProbeServiceBlockingStub s = timeout == null ? stub : withTimeout(stub, timeout);
    return new Subscription(
        previous.request(),
        socket,
        this::isClosed,
        s::subscribe,
        previous.streamId(),
        previous.lastSeq());
  }

  /** Describes the service: versions, driver, kernel features, node, boot time, catalogue. */
  public GetInfoResponse getInfo(Duration timeout) {
    return call(timeout, s -> s.getInfo(GetInfoRequest.getDefaultInstance()));
  }

  /** The configuration Configure changes, with its generation. */
  public GetConfigResponse getConfig(Duration timeout) {
    return call(timeout, s -> s.getConfig(GetConfigRequest.getDefaultInstance()));
  }

  /**
   * Changes what the probe captures for every subscriber, atomically. An
   * invalid request throws {@link InvalidRequestException} and changes
   * nothing; a caller outside root and the admin group gets
   * {@link PermissionDeniedException}; a stale {@code expected_generation},
   * {@link ConfigChangedException}.
   */
  public ConfigureResponse configure(ConfigureRequest request, Duration timeout) {
    return call(timeout, s -> s.configure(request));
  }

  private <T> T call(Duration timeout, Function<ProbeServiceGrpc.ProbeServiceBlockingStub, T> rpc) {
    try {
      return rpc.apply(withTimeout(stub, timeout));
    } catch (StatusRuntimeException e) {
      throw Errors.translate(e, socket, false);
    }
  }

  private static <S extends AbstractStub<S>> S withTimeout(S stub, Duration timeout) {
    Objects.requireNonNull(timeout, "timeout");
    return stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Closes the connection; open subscriptions end with it. */
  @Override
  public void close() {
    closed = true;
    transport.close();
  }

  private boolean isClosed() {
    return closed;
  }

  @Override
  public String toString() {
    return "KindlingClient(" + socket + ")";
  }
}
