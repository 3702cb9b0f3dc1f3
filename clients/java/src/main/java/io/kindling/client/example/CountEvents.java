package io.kindling.client.example;

import io.kindling.client.KindlingClient;
import io.kindling.client.KindlingEvent;
import io.kindling.client.KindlingException;
import io.kindling.client.LossNotice;
import io.kindling.client.StreamItem;
import io.kindling.client.Subscription;
import io.kindling.probe.v1.EventFilter;
import io.kindling.probe.v1.SubscribeRequest;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An example collector: counts the events of a stream by name and prints the
 * counts once a second, with the events lost.
 *
 * <pre>
 * mvn -q compile exec:java -Dexec.args="[--socket PATH] [--seconds N] [NAME ...]"
 * </pre>
 *
 * Without --socket it connects to $KINDLING_SOCKET or /run/kindling.sock;
 * without --seconds it runs until stopped; NAMEs select events (none: all).
 */
public final class CountEvents {
  private final Map<String, Long> counts = new TreeMap<>();
  private long total;
  private long lost;

  private CountEvents() {}

  public static void main(String[] args) throws InterruptedException {
    Path socket = null;
    long seconds = 0;
    List<String> names = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--socket" -> socket = Path.of(value(args, ++i));
        case "--seconds" -> seconds = Long.parseLong(value(args, ++i));
        default -> names.add(args[i]);
      }
    }
    SubscribeRequest.Builder request = SubscribeRequest.newBuilder();
    if (!names.isEmpty()) {
      request.addAllowList(EventFilter.newBuilder().addAllNames(names));
    }
    try (KindlingClient client = socket == null ? KindlingClient.connect() : KindlingClient.connect(socket);
        Subscription stream = client.subscribe(request.build())) {
      new CountEvents().run(stream, seconds, System.out);
    } catch (KindlingException e) {
      System.err.println("count-events: " + e.getMessage());
      System.exit(1);
    }
  }

  private static String value(String[] args, int i) {
    if (i >= args.length) {
      System.err.println("count-events: " + args[i - 1] + " needs a value");
      System.exit(2);
    }
    return args[i];
  }

  /** Reads {@code stream} on another thread and prints the counts every second. */
  private void run(Subscription stream, long seconds, PrintStream out) throws InterruptedException {
    AtomicReference<KindlingException> failure = new AtomicReference<>();
    Thread reader =
        new Thread(
            () -> {
              try {
                for (StreamItem item : stream) {
                  synchronized (this) {
                    if (item instanceof KindlingEvent event) {
                      counts.merge(event.event().getName(), 1L, Long::sum);
                      total++;
                    } else if (item instanceof LossNotice loss) {
                      lost += loss.count();
                    }
                  }
                }
              } catch (KindlingException e) {
                failure.set(e);
              }
            },
            "count-events-reader");
    reader.start();
    Instant end = seconds > 0 ? Instant.now().plusSeconds(seconds) : Instant.MAX;
    while (reader.isAlive() && Instant.now().isBefore(end)) {
      reader.join(1000);
      print(out);
    }
    stream.close();
    reader.join();
    if (failure.get() != null) {
      throw failure.get();
    }
    synchronized (this) {
      out.println("total: " + total + " events, " + lost + " lost");
    }
  }

  private synchronized void print(PrintStream out) {
    StringBuilder line = new StringBuilder(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    counts.forEach((name, count) -> line.append(' ').append(name).append('=').append(count));
    out.println(line.append(" lost=").append(lost));
  }
}
