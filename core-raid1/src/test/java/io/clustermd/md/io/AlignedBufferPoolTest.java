package io.clustermd.md.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

/** Aligned allocation and the bounded buffer pool. */
class AlignedBufferPoolTest {

    @Test
    void allocate_anySize_isDirectAlignedAndExact() {
        for (int size : new int[] {0, 1, 511, 4096, 4097, 65536, 1 << 20}) {
            ByteBuffer b = AlignedBuffers.allocate(size, 4096);
            assertThat(b.isDirect()).isTrue();
            assertThat(b.capacity()).isEqualTo(size);
            assertThat(b.position()).isZero();
            if (size > 0) {
                assertThat(AlignedBuffers.isAligned(b, 4096)).isTrue();
            }
        }
        assertThat(AlignedBuffers.isAligned(AlignedBuffers.allocate(8192, 8192), 8192)).isTrue();
        assertThat(AlignedBuffers.isAligned(ByteBuffer.allocate(8192), 4096)).isFalse();
        assertThatThrownBy(() -> AlignedBuffers.allocate(4096, 6000)).hasMessageContaining("not a power of two");
    }

    @Test
    void roundUpAndDown_toPowerOfTwoUnits() {
        assertThat(AlignedBuffers.roundDown(8191, 4096)).isEqualTo(4096);
        assertThat(AlignedBuffers.roundUp(4097, 4096)).isEqualTo(8192);
        assertThat(AlignedBuffers.roundUp(8192, 4096)).isEqualTo(8192);
        assertThat(AlignedBuffers.roundDown(0, 4096)).isZero();
    }

    @Test
    void acquire_returnsAlignedBufferLimitedToRequest_andReusesReleasedOnes() {
        AlignedBufferPool pool = new AlignedBufferPool(4096, 1 << 20, 2);
        ByteBuffer a = pool.acquire(5000);
        assertThat(a.capacity()).isEqualTo(8192);
        assertThat(a.limit()).isEqualTo(5000);
        assertThat(a.position()).isZero();
        assertThat(AlignedBuffers.isAligned(a, 4096)).isTrue();
        a.position(100);
        pool.release(a);
        ByteBuffer b = pool.acquire(6000);
        assertThat(b).isSameAs(a);
        assertThat(b.position()).isZero();
        assertThat(b.limit()).isEqualTo(6000);
    }

    @Test
    void release_keepsAtMostPerClass_andNeverPoolsOversizedBuffers() {
        AlignedBufferPool pool = new AlignedBufferPool(4096, 1 << 20, 2);
        ByteBuffer x = pool.acquire(4096);
        ByteBuffer y = pool.acquire(4096);
        ByteBuffer z = pool.acquire(4096);
        pool.release(x);
        pool.release(y);
        pool.release(z);
        // Identity, not equals(): ByteBuffer.equals compares contents.
        ByteBuffer first = pool.acquire(4096);
        ByteBuffer second = pool.acquire(4096);
        ByteBuffer third = pool.acquire(4096);
        assertThat(first == x || first == y).isTrue();
        assertThat(second == x || second == y).isTrue();
        assertThat(second).isNotSameAs(first);
        assertThat(third != x && third != y && third != z).as("the third release was dropped").isTrue();
        ByteBuffer big = pool.acquire(3 << 20);
        assertThat(big.capacity()).isEqualTo(3 << 20);
        pool.release(big);
        assertThat(pool.acquire(3 << 20)).isNotSameAs(big);
        assertThat(pool.maxPooledSize()).isEqualTo(1 << 20);
    }
}
