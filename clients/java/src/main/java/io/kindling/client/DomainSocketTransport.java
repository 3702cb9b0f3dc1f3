package io.kindling.client;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The gRPC channel to a unix domain socket: Netty's epoll transport, as
 * grpc-netty-shaded bundles it. The shaded jar carries Netty together with the
 * epoll native library built for that Netty, so the two cannot drift apart.
 */
final class DomainSocketTransport implements AutoCloseable {
  /** The largest response accepted, as the Python and Go clients do. */
  static final int MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;

  private final EventLoopGroup group;
  private final ManagedChannel channel;

  DomainSocketTransport(Path socket) {
    if (!Epoll.isAvailable()) {
      throw new UnsupportedOperationException(
          "the epoll transport for unix sockets is not available here: "
              + Epoll.unavailabilityCause().getMessage(),
          Epoll.unavailabilityCause());
    }
    // One thread: the client talks to one socket; daemon threads so that a
    // program that forgets close() can still exit.
    group =
        new MultiThreadIoEventLoopGroup(
            1, new DefaultThreadFactory("kindling-client", true), EpollIoHandler.newFactory());
    channel =
        NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toAbsolutePath().toString()))
            .eventLoopGroup(group)
            .channelType(EpollDomainSocketChannel.class, DomainSocketAddress.class)
            .usePlaintext()
            .maxInboundMessageSize(MAX_RECEIVE_MESSAGE_BYTES)
            // grpc-netty sets SO_KEEPALIVE on every client channel; a unix
            // socket has no such option, and Netty logs a warning for each
            // connection. A null value removes the option again.
            .withOption(ChannelOption.SO_KEEPALIVE, null)
            .build();
  }

  ManagedChannel channel() {
    return channel;
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    group.shutdownGracefully(0, 5, TimeUnit.SECONDS);
  }
}
