import HearthCore
print("hearth")
