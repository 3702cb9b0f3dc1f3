package io.kindling.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Duration;
import io.kindling.event.v1.Event;
import io.kindling.probe.v1.ConfigureRequest;
import io.kindling.probe.v1.ConfigureResponse;
import io.kindling.probe.v1.EventFilter;
import io.kindling.probe.v1.GetInfoResponse;
import io.kindling.probe.v1.Loss;
import io.kindling.probe.v1.LossReason;
import io.kindling.probe.v1.PayloadMode;
import io.kindling.probe.v1.SubscribeRequest;
import io.kindling.probe.v1.SubscribeResponse;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client against the real service replaying the shipped recording. */
class ReplayTest {
  static final java.time.Duration TIMEOUT = java.time.Duration.ofSeconds(20);
  static final SubscribeRequest ALL =
      SubscribeRequest.newBuilder().setPayload(PayloadMode.PAYLOAD_MODE_ALL).build();

  @TempDir static Path directory;
  static Recordings sample;
  static ProbeService service;

  @BeforeAll
  static void start() throws IOException {
    sample = Recordings.read(ProbeService.SAMPLE);
    service = ProbeService.replay(directory, ProbeService.SAMPLE);
  }

  @AfterAll
  static void stop() {
    if (service != null) {
      service.close();
    }
  }

  /** Reads {@code subscription} until it has given {@code count} events. */
  static List<StreamItem> read(Subscription subscription, int count) {
    List<StreamItem> items = new ArrayList<>();
    int events = 0;
    while (events < count && subscription.hasNext()) {
      StreamItem item = subscription.next();
      items.add(item);
      if (item instanceof KindlingEvent) {
        events++;
      }
    }
    return items;
  }

  static List<Event> events(List<StreamItem> items) {
    return items.stream()
        .filter(KindlingEvent.class::isInstance)
        .map(i -> ((KindlingEvent) i).event())
        .toList();
  }

  @Test
  void decodesTheRecordingAsThePythonClientDoes(@TempDir Path mine, @TempDir Path other)
      throws Exception {
    // Services of their own: a replay plays once, for whoever subscribes first.
    int count = sample.events().size();
    List<StreamItem> items;
    try (ProbeService replay = ProbeService.replay(mine, ProbeService.SAMPLE);
        KindlingClient client = KindlingClient.connect(replay.socket);
        Subscription stream = client.subscribe(ALL, TIMEOUT)) {
      items = read(stream, count);
    }
    List<Event> events = events(items);
    assertEquals(count, events.size());
    assertEquals(
        LongStream.rangeClosed(1, count).boxed().toList(),
        events.stream().map(Event::getSeq).toList(),
        "a stream numbers its events from 1, without gaps");
    for (int i = 0; i < count; i++) {
      assertEquals(
          sample.events().get(i).toBuilder().clearSeq().build(),
          events.get(i).toBuilder().clearSeq().build());
    }
    for (StreamItem item : items) {
      KindlingEvent event = (KindlingEvent) item;
      assertEquals(sample.header().getNodeName(), event.nodeName());
      assertEquals(sample.header().getBootTime(), event.bootTime());
      assertEquals(WallClock.time(sample.header().getBootTime(), event.event()), event.time());
    }

    // The Python client, on another service replaying the same file.
    try (ProbeService second = ProbeService.replay(other, ProbeService.SAMPLE)) {
      assertEquals(
          events,
          PythonClient.subscribe(second.socket, ALL, count, 0).events(),
          "the Python client decodes the same events");
    }
  }

  @Test
  void lossesAreTypedNoticesInStreamOrder(@TempDir Path dir) throws IOException {
    // The sample with losses added, as a recording of a lossy stream has them:
    // the kernel's buffer overflowed before the second response, and the
    // recording stream's own queue before the third.
    List<SubscribeResponse> responses = new ArrayList<>(sample.responses());
    responses.set(1, responses.get(1).toBuilder().addLosses(loss(LossReason.LOSS_REASON_KERNEL_BUFFER_FULL, 7)).build());
    responses.set(2, responses.get(2).toBuilder().addLosses(loss(LossReason.LOSS_REASON_SUBSCRIBER_QUEUE_FULL, 4)).build());
    Path lossy = dir.resolve("lossy.kindling");
    new Recordings(sample.header(), responses).write(lossy);
    int count = sample.events().size();

    List<StreamItem> items;
    try (ProbeService replay = ProbeService.replay(dir, lossy);
        KindlingClient client = KindlingClient.connect(replay.socket);
        Subscription stream = client.subscribe(ALL, TIMEOUT)) {
      items = read(stream, count);
    }
    List<LossNotice> losses =
        items.stream().filter(LossNotice.class::isInstance).map(LossNotice.class::cast).toList();
    assertEquals(2, losses.size(), "every loss is surfaced: " + items.size() + " items");
    assertEquals(LossReason.LOSS_REASON_KERNEL_BUFFER_FULL, losses.get(0).reason());
    assertEquals(7, losses.get(0).count());
    assertEquals(LossReason.LOSS_REASON_NOT_RECORDED, losses.get(1).reason());
    assertEquals(4, losses.get(1).count());
    // Unnumbered (neither loss had sequence numbers), and surfaced no later
    // than the events recorded after the loss: the service reports a loss as
    // soon as it reads it, ahead of events it still has to send.
    assertFalse(losses.get(0).hasRange());
    assertFalse(losses.get(1).hasRange());
    int after0 = sample.responses().get(0).getEventsCount();
    int after1 = after0 + sample.responses().get(1).getEventsCount();
    assertTrue(events(items.subList(0, items.indexOf(losses.get(0)))).size() <= after0);
    assertTrue(events(items.subList(0, items.indexOf(losses.get(1)))).size() <= after1);
    // A numbered loss is the gap in the events' numbers that it explains.
    List<Event> events = events(items);
    long expected = 1;
    for (StreamItem item : items) {
      if (item instanceof LossNotice notice && notice.hasRange()) {
        assertEquals(expected, notice.firstSeq());
        expected = notice.lastSeq() + 1;
      } else if (item instanceof KindlingEvent event) {
        assertEquals(expected, event.seq());
        expected++;
      }
    }
    assertEquals(count, events.size());
  }

  static Loss loss(LossReason reason, long count) {
    return Loss.newBuilder().setReason(reason).setCount(count).build();
  }

  @Test
  void anInvalidFilterIsAnInvalidRequestNamingTheField() {
    SubscribeRequest bad =
        SubscribeRequest.newBuilder()
            .addAllowList(EventFilter.newBuilder().addNames("connect").addNames("no_such_event"))
            .build();
    try (KindlingClient client = KindlingClient.connect(service.socket);
        Subscription stream = client.subscribe(bad, TIMEOUT)) {
      InvalidRequestException e = assertThrows(InvalidRequestException.class, stream::hasNext);
      assertTrue(e.details().startsWith("allow_list[0].names[1]"), e.details());
      assertTrue(e.getMessage().contains("rejected the request: allow_list[0].names[1]"), e.getMessage());
    }
  }

  @Test
  void getInfoDescribesTheReplayAndItsClock() {
    try (KindlingClient client = KindlingClient.connect(service.socket)) {
      GetInfoResponse info = client.getInfo(TIMEOUT);
      assertEquals("replay", info.getDriver().getName());
      assertEquals(sample.header().getKernelRelease(), info.getDriver().getKernelRelease());
      assertEquals(sample.header().getNodeName(), info.getNodeName());
      assertEquals(sample.header().getBootTime(), info.getBootTime());
      assertTrue(info.getEventsList().stream().anyMatch(e -> e.getName().equals("connect")));
    }
  }

  @Test
  void configureAndGetConfig() {
    try (KindlingClient client = KindlingClient.connect(service.socket)) {
      long generation = client.getConfig(TIMEOUT).getGeneration();
      assertTrue(generation >= 1);
      ConfigureResponse dry =
          client.configure(
              ConfigureRequest.newBuilder().addDisableEvents("connect").setDryRun(true).build(), TIMEOUT);
      assertFalse(dry.getApplied());
      assertFalse(dry.getEnabledEventsList().contains("connect"));
      assertEquals(generation, client.getConfig(TIMEOUT).getGeneration(), "a dry run changes nothing");
      InvalidRequestException e =
          assertThrows(
              InvalidRequestException.class,
              () -> client.configure(ConfigureRequest.newBuilder().addEnableEvents("bogus").build(), TIMEOUT));
      assertTrue(e.details().contains("bogus"), e.details());
      ConfigChangedException changed =
          assertThrows(
              ConfigChangedException.class,
              () ->
                  client.configure(
                      ConfigureRequest.newBuilder().setExpectedGeneration(generation + 100).build(), TIMEOUT));
      assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, changed.code());
    }
  }

  @Test
  void aStreamPastItsDeadlineIsDeadlineExceeded() {
    try (KindlingClient client = KindlingClient.connect(service.socket);
        Subscription stream = client.subscribe(nothing(), java.time.Duration.ofMillis(500))) {
      DeadlineExceededException e = assertThrows(DeadlineExceededException.class, stream::hasNext);
      assertTrue(e.getMessage().contains("did not finish in time"), e.getMessage());
    }
  }

  @Test
  void closeEndsAWaitingStreamFromAnotherThread() {
    try (KindlingClient client = KindlingClient.connect(service.socket);
        Subscription stream = client.subscribe(nothing(), TIMEOUT)) {
      later(stream::close);
      assertFalse(stream.hasNext(), "the iteration ends, without an error");
    }
  }

  @Test
  void closingTheClientEndsItsStreams() {
    KindlingClient client = KindlingClient.connect(service.socket);
    try (Subscription stream = client.subscribe(nothing(), TIMEOUT)) {
      later(client::close);
      assertFalse(stream.hasNext(), "the iteration ends, without an error");
    }
  }

  @Test
  void resumingAnUnknownStreamIsStreamNotFound() {
    try (KindlingClient client = KindlingClient.connect(service.socket);
        Subscription stream =
            new Subscription(nothing(), service.socket, () -> false, client.stub()::subscribe, "no-such-stream", 5)) {
      StreamNotFoundException e = assertThrows(StreamNotFoundException.class, stream::hasNext);
      assertTrue(e.getMessage().contains("cannot resume: "), e.getMessage());
    }
  }

  @Test
  void aServiceThatDiesMidStreamIsUnavailableAfterStarting(@TempDir Path dir) throws Exception {
    try (ProbeService replay = ProbeService.replay(dir, ProbeService.SAMPLE);
        KindlingClient client = KindlingClient.connect(replay.socket);
        Subscription stream = client.subscribe(ALL, TIMEOUT)) {
      assertTrue(stream.hasNext());
      replay.kill();
      // What had arrived is read, then the broken stream throws.
      ServiceUnavailableException e =
          assertThrows(
              ServiceUnavailableException.class,
              () -> {
                while (stream.hasNext()) {
                  stream.next();
                }
              });
      assertTrue(e.started(), "the stream had reached the service");
      assertTrue(e.getMessage().startsWith("the kindling probe service at " + replay.socket + " stopped"), e.getMessage());
    }
  }

  /** A request for an event the recording does not have: its stream waits. */
  static SubscribeRequest nothing() {
    return SubscribeRequest.newBuilder().addAllowList(EventFilter.newBuilder().addNames("process_exec")).build();
  }

  static void later(Runnable action) {
    Thread thread = new Thread(() -> {
      ProbeService.sleep(300);
      action.run();
    });
    thread.setDaemon(true);
    thread.start();
  }

  @Test
  void aClosedResumableStreamResumesAfterTheLastEventRead(@TempDir Path dir) throws IOException {
    int count = sample.events().size();
    SubscribeRequest resumable = ALL.toBuilder().setResumeWindow(Duration.newBuilder().setSeconds(60)).build();
    try (ProbeService replay = ProbeService.replay(dir, ProbeService.SAMPLE);
        KindlingClient client = KindlingClient.connect(replay.socket)) {
      Subscription first = client.subscribe(resumable, TIMEOUT);
      List<Event> head = events(read(first, 10));
      first.close();
      assertFalse(first.streamId().isEmpty(), "a resumable stream has an id");
      assertEquals(10, first.lastSeq());
      List<Event> tail;
      try (Subscription second = client.resume(first, TIMEOUT)) {
        tail = events(read(second, count - 10));
        assertEquals(first.streamId(), second.streamId());
      }
      List<Event> all = new ArrayList<>(head);
      all.addAll(tail);
      assertEquals(LongStream.rangeClosed(1, count).boxed().toList(), all.stream().map(Event::getSeq).toList());
      assertEquals(sample.events().size(), all.size());
    }
  }
}
