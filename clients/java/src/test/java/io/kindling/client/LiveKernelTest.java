package io.kindling.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.kindling.event.v1.Attribute;
import io.kindling.event.v1.Event;
import io.kindling.probe.v1.EventFilter;
import io.kindling.probe.v1.GetInfoResponse;
import io.kindling.probe.v1.SubscribeRequest;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client against the service on the real kernel. Needs what the service
 * needs (root, tracefs, BCC); skipped otherwise, unless
 * KINDLING_REQUIRE_KERNEL=1 makes that a failure.
 */
class LiveKernelTest {
  @TempDir static Path directory;
  static ProbeService service;

  @BeforeAll
  static void start() throws Exception {
    // `kindling-probe check` runs the checks `serve` starts with.
    Process check = new ProcessBuilder(ProbeService.PROBE.toString(), "check").redirectErrorStream(true).start();
    String out = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (check.waitFor() != 0) {
      if ("1".equals(System.getenv("KINDLING_REQUIRE_KERNEL"))) {
        fail("KINDLING_REQUIRE_KERNEL=1 but the kernel path cannot run:\n" + out);
      }
      Assumptions.abort("needs the kernel path: " + out.strip());
    }
    service = ProbeService.kernel(directory);
  }

  @AfterAll
  static void stop() {
    if (service != null) {
      service.close();
    }
  }

  @Test
  void seesAChildProcessExecAtTheWallClockTime() {
    long self = ProcessHandle.current().pid();
    SubscribeRequest request =
        SubscribeRequest.newBuilder()
            .addAllowList(EventFilter.newBuilder().addNames("process_exec").addProcessTrees((int) self))
            .build();
    try (KindlingClient client = KindlingClient.connect(service.socket);
        Subscription stream = client.subscribe(request, Duration.ofSeconds(30))) {
      GetInfoResponse info = client.getInfo(Duration.ofSeconds(10));
      // Start processes until one is seen: the kernel starts capturing for
      // the stream a moment after the call.
      AtomicBoolean seen = new AtomicBoolean();
      Thread starter =
          new Thread(
              () -> {
                while (!seen.get()) {
                  try {
                    new ProcessBuilder("/bin/true").start().waitFor();
                    Thread.sleep(200);
                  } catch (IOException | InterruptedException e) {
                    return;
                  }
                }
              });
      starter.setDaemon(true);
      Instant before = Instant.now();
      starter.start();
      // The JVM starts children through its jspawnhelper, which then execs
      // the program: two process_exec events per child.
      KindlingEvent exec = null;
      long seq = 0;
      while (exec == null && stream.hasNext()) {
        if (stream.next() instanceof KindlingEvent event) {
          assertEquals(++seq, event.seq(), "numbered from 1, without gaps");
          if (attribute(event.event(), "filename").equals("/bin/true")) {
            exec = event;
          }
        }
      }
      seen.set(true);
      Instant after = Instant.now();
      assertTrue(exec != null, "no process_exec:\n" + service.log());
      Event event = exec.event();
      assertEquals(self, event.getThread().getPpid(), "a child of this JVM");
      Instant time = exec.time();
      assertTrue(!time.isBefore(before.minusMillis(50)) && !time.isAfter(after.plusMillis(50)),
          time + " not within " + before + " .. " + after);
      // GetInfo's boot time gives the same wall clock, to within the
      // clock's drift between the two estimates.
      Duration skew = Duration.between(WallClock.time(info.getBootTime(), event), time).abs();
      assertTrue(skew.toMillis() < 50, "skew " + skew);
    }
  }

  /**
   * One scenario (a file open, a TCP connect, an exec) read at the same time
   * by this client, the Python client, and the Python and Go commands (the
   * Go command decodes with the Go client): the three clients decode the
   * same events, every field and sequence number, and the two commands print
   * the same JSON lines.
   */
  @Test
  void everyLanguageDecodesTheSameLiveEvents(@TempDir Path tmp) throws Exception {
    Path file = Files.writeString(tmp.resolve("opened"), "x");
    // The workload says when it has started up, then waits for a line, so
    // that both streams are open before it acts.
    String workload =
        String.join(
            "\n",
            "import os, socket, sys",
            "print('ready', flush=True)",
            "sys.stdin.readline()",
            "os.close(os.open(sys.argv[1], os.O_RDONLY))",
            "server = socket.socket()",
            "server.bind(('127.0.0.1', 0))",
            "server.listen()",
            "client = socket.create_connection(server.getsockname())",
            "accepted, _ = server.accept()",
            "for s in (client, accepted, server):",
            "    s.close()",
            "os.execv('/bin/true', ['true'])");
    Process process =
        new ProcessBuilder("/usr/bin/python3", "-c", workload, file.toString())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    long pid = process.pid();
    byte[] ready = process.getInputStream().readNBytes(6);
    assertEquals("ready\n", new String(ready, StandardCharsets.US_ASCII));
    SubscribeRequest request =
        SubscribeRequest.newBuilder()
            .addAllowList(
                EventFilter.newBuilder()
                    .addAllNames(List.of("openat", "socket", "connect", "accept4", "process_exec", "process_exit"))
                    .addProcessTrees((int) pid))
            .build();
    int joined = joined();
    // The commands' flags ask for the same events as the clients' request,
    // so that every stream joining leaves the service's kernel plan as it was.
    List<String> flags =
        List.of("--socket", service.socket.toString(), "-o", "json",
            "--name", "openat,socket,connect,accept4,process_exec,process_exit", "--process-tree", Long.toString(pid));
    try (KindlingClient client = KindlingClient.connect(service.socket);
        Subscription stream = client.subscribe(request, Duration.ofSeconds(30))) {
      PythonClient python = PythonClient.subscribe(service.socket, request, 0, pid);
      JsonLines goCommand = JsonLines.start(EVENTS_COMMAND.toString(), flags);
      JsonLines pythonCommand =
          JsonLines.start(ProbeService.PROBE.resolveSibling("kindling").toString(), prepend("events", flags));
      CompletableFuture<List<Event>> mine = CompletableFuture.supplyAsync(() -> readUntilExit(stream, pid));
      awaitJoined(joined + 4);
      try (OutputStream in = process.getOutputStream()) {
        in.write('\n');
      }
      assertTrue(process.waitFor(20, TimeUnit.SECONDS), "the workload did not finish");
      assertEquals(0, process.exitValue());
      List<Event> events = mine.get(30, TimeUnit.SECONDS);
      List<String> goLines = goCommand.first(events.size(), Duration.ofSeconds(20));
      List<String> pythonLines = pythonCommand.first(events.size(), Duration.ofSeconds(20));
      List<Event> pythonEvents = python.events();
      String seen =
          "\nJava: " + names(events) + "\nPython client: " + names(pythonEvents) + "\nGo command: "
              + names(parsed(goLines)) + "\nservice log:\n" + service.log();

      assertEquals(events, pythonEvents, "the Python client decodes the same events" + seen);
      // The Go command decodes with the Go client: its JSON lines (protojson)
      // hold the same events, every field, as this client decoded them.
      assertEquals(events, parsed(goLines), "the Go client decodes the same events" + seen);
      assertEquals(goLines, pythonLines, "the Python and Go commands print the same JSON lines");
      assertEquals(
          LongStream.rangeClosed(1, events.size()).boxed().toList(),
          events.stream().map(Event::getSeq).toList());
      List<String> names = events.stream().map(Event::getName).toList();
      for (String name : List.of("openat", "socket", "connect", "accept4", "process_exec", "process_exit")) {
        assertTrue(names.contains(name), name + " missing from " + names);
      }
      assertTrue(
          events.stream().anyMatch(e -> e.getName().equals("openat") && attribute(e, "path").equals(file.toString())),
          "the file's openat");
    }
  }

  /** JSON lines of the commands (an event's fields after "time" and "node"), as events. */
  static List<Event> parsed(List<String> lines) throws InvalidProtocolBufferException {
    List<Event> events = new ArrayList<>();
    for (String line : lines) {
      Event.Builder event = Event.newBuilder();
      JsonFormat.parser().ignoringUnknownFields().merge(line, event);
      events.add(event.build());
    }
    return events;
  }

  static List<String> names(List<Event> events) {
    return events.stream().map(e -> e.getSeq() + " " + e.getName()).toList();
  }

  static final Path EVENTS_COMMAND = Path.of(System.getProperty("kindling.events", "kindling-events"));

  static List<String> prepend(String first, List<String> rest) {
    List<String> all = new ArrayList<>(List.of(first));
    all.addAll(rest);
    return all;
  }

  static List<Event> readUntilExit(Subscription stream, long pid) {
    List<Event> events = new ArrayList<>();
    while (stream.hasNext()) {
      if (stream.next() instanceof KindlingEvent item) {
        events.add(item.event());
        if (item.event().getName().equals("process_exit") && item.event().getThread().getPid() == pid) {
          break;
        }
      }
    }
    return events;
  }

  /** How many subscriptions the service has logged as joined. */
  static int joined() {
    String log = service.log();
    int count = 0;
    for (int i = log.indexOf(" joined ("); i >= 0; i = log.indexOf(" joined (", i + 1)) {
      count++;
    }
    return count;
  }

  static void awaitJoined(int count) {
    Instant deadline = Instant.now().plusSeconds(20);
    while (joined() < count) {
      if (Instant.now().isAfter(deadline)) {
        fail(count + " subscriptions never joined:\n" + service.log());
      }
      ProbeService.sleep(20);
    }
  }

  static String attribute(Event event, String key) {
    return event.getAttributesList().stream()
        .filter(a -> a.getKey().equals(key))
        .map(Attribute::getStringValue)
        .findFirst()
        .orElse("");
  }
}
