// A fixture front-end extension; only its folder's presence is tested.
export {};
