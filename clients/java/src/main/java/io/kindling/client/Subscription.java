package io.kindling.client;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.kindling.event.v1.Event;
import io.kindling.probe.v1.Loss;
import io.kindling.probe.v1.SubscribeRequest;
import io.kindling.probe.v1.SubscribeResponse;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

/**
 * An open event stream, from {@link KindlingClient#subscribe}. Iterating
 * yields its events and loss notices in stream order; it ends when the service
 * ends the stream, after {@link #close()} or after the client's close. Other failures are thrown by
 * {@code hasNext()} and {@code next()} as a {@link RequestFailedException}:
 * {@link InvalidRequestException} for filters the service rejects,
 * {@link ServiceUnavailableException} when the service cannot be reached or
 * goes away, {@link DeadlineExceededException} when the stream's deadline
 * passes.
 *
 * <p>Read it from one thread; {@link #close()} may be called from any thread.
 * A stream whose request set {@code resume_window} can be continued after a
 * disconnect with {@link KindlingClient#resume(Subscription)}.
 */
public final class Subscription implements Iterator<StreamItem>, Iterable<StreamItem>, AutoCloseable {
  private final SubscribeRequest request;
  private final Path socket;
  private final BooleanSupplier clientClosed;
  private final Context.CancellableContext context;
  private final Iterator<SubscribeResponse> responses;
  private final ArrayDeque<StreamItem> pending = new ArrayDeque<>();
  private volatile boolean closed;
  private boolean received;
  private boolean ended;
  private String streamId;
  private long lastSeq;

  Subscription(
      SubscribeRequest request,
      Path socket,
      BooleanSupplier clientClosed,
      Function<SubscribeRequest, Iterator<SubscribeResponse>> call,
      String streamId,
      long lastSeq) {
    this.request = request;
    this.socket = socket;
    this.clientClosed = clientClosed;
    this.streamId = streamId;
    this.lastSeq = lastSeq;
    // The call belongs to this context, so that close() can cancel it from
    // another thread while hasNext() waits.
    this.context = Context.current().withCancellation();
    Context previous = context.attach();
    try {
      SubscribeRequest sent = request;
      if (!streamId.isEmpty()) {
        sent =
            request.toBuilder()
                .setResume(
                    request.getResume().toBuilder().setStreamId(streamId).setLastSeq(lastSeq))
                .build();
      }
      this.responses = call.apply(sent);
    } finally {
      context.detach(previous);
    }
  }

  /** The request the stream was started with (without any resume). */
  public SubscribeRequest request() {
    return request;
  }

  /** The id of a resumable stream, once its first response came; empty otherwise. */
  public String streamId() {
    return streamId;
  }

  /** The sequence number of the last event {@link #next()} returned; 0 before the first. */
  public long lastSeq() {
    return lastSeq;
  }

  @Override
  public Iterator<StreamItem> iterator() {
    return this;
  }

  @Override
  public boolean hasNext() {
    while (pending.isEmpty()) {
      if (ended) {
        return false;
      }
      SubscribeResponse response;
      try {
        if (!responses.hasNext()) {
          ended = true;
          return false;
        }
        response = responses.next();
      } catch (StatusRuntimeException e) {
        ended = true;
        // Ended by this side: close() cancels the call, closing the client
        // shuts its channel down (UNAVAILABLE).
        Status.Code code = e.getStatus().getCode();
        if ((closed && code == Status.Code.CANCELLED)
            || (clientClosed.getAsBoolean()
                && (code == Status.Code.CANCELLED || code == Status.Code.UNAVAILABLE))) {
          return false;
        }
        throw Errors.translate(e, socket, received);
      }
      received = true;
      if (!response.getStreamId().isEmpty()) {
        streamId = response.getStreamId();
      }
      enqueue(response);
    }
    return true;
  }

  @Override
  public StreamItem next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the stream has ended");
    }
    StreamItem item = pending.removeFirst();
    if (item instanceof KindlingEvent event) {
      lastSeq = event.seq();
    }
    return item;
  }

  /**
   * Queues a response's items in stream order: losses without sequence
   * numbers (the kernel's) first, then events, each numbered loss just before
   * the first event after its range, so a notice comes where its gap is.
   */
  private void enqueue(SubscribeResponse response) {
    List<Loss> numbered = new ArrayList<>();
    for (Loss loss : response.getLossesList()) {
      if (loss.getFirstSeq() == 0) {
        pending.addLast(LossNotice.of(loss));
      } else {
        numbered.add(loss);
      }
    }
    numbered.sort(Comparator.comparingLong(Loss::getFirstSeq));
    int next = 0;
    for (Event event : response.getEventsList()) {
      while (next < numbered.size() && numbered.get(next).getFirstSeq() < event.getSeq()) {
        pending.addLast(LossNotice.of(numbered.get(next++)));
      }
      pending.addLast(new KindlingEvent(event, response.getNodeName(), response.getBootTime()));
    }
    while (next < numbered.size()) {
      pending.addLast(LossNotice.of(numbered.get(next++)));
    }
  }

  /** Ends the stream; iteration stops after the items already received. */
  @Override
  public void close() {
    closed = true;
    context.cancel(null);
  }
}
