module example.service {
    requires io.vectorprop.network;
}
