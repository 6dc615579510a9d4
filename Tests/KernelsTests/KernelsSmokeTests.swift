import Testing
import Kernels

@Test func tensorReshapeKeepsElements() {
    var t = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6])
    t.reshape(to: [3, 2])
    #expect(t[2, 1] == 6)
}
